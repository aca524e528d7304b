--- :checkhealth gemma — every failed check says what to do next.
local M = {}

local health = vim.health

local function check_neovim()
  health.start('gemma: Neovim')
  local v = vim.version()
  local version = string.format('%d.%d.%d', v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.11') == 0 then
    health.error('Neovim ' .. version .. ' is too old', { 'Install Neovim 0.11 or newer' })
    return
  end
  health.ok('Neovim ' .. version)
  local completion = require('gemma.completion')
  if completion.native() then
    health.ok('Inline completion: native vim.lsp.inline_completion (Neovim 0.12+)')
  elseif vim.lsp.inline_completion then
    health.ok('Inline completion: plugin ghost text (completion.native = false)')
  else
    health.ok('Inline completion: plugin ghost text (extmarks; Neovim 0.11 has no native one)')
  end
  if not require('gemma').is_setup() then
    health.warn('require("gemma").setup() has not been called', {
      'Call require("gemma").setup({}) in your config to get keymaps and commands wired up',
    })
  end
  if not completion.enabled then
    health.info('Inline completion is turned off (:GemmaToggle turns it on)')
  end
end

--- Checks that the configured command can start: the executable exists, and for a
--- `python -m gemma_lsp` command that the module imports.
---@param cmd string[]
local function check_command(cmd)
  local exe = cmd[1]
  if vim.fn.executable(exe) == 0 then
    health.error('Server command not found: ' .. exe, {
      'Install the server: pip install gemma-lsp (or pip install -e . in a gemma-lsp checkout)',
      'Or point setup({ server = { cmd = { "/path/to/python", "-m", "gemma_lsp" } } }) at it',
    })
    return
  end
  health.ok('Server command: ' .. table.concat(cmd, ' ') .. ' (' .. vim.fn.exepath(exe) .. ')')
  local m = vim.fn.index(cmd, '-m')
  if m >= 0 and cmd[m + 2] == 'gemma_lsp' then
    local env = require('gemma.config').current.server.cmd_env
    local ok, result = pcall(function()
      return vim.system({ exe, '-c', 'import gemma_lsp' }, { env = env, text = true }):wait(15000)
    end)
    if ok and result.code == 0 then
      health.ok('Python module gemma_lsp imports')
    else
      health.error('Python module gemma_lsp does not import with ' .. exe, {
        'pip install gemma-lsp into that Python, or set server.cmd_env.PYTHONPATH',
        ok and (result.stderr or '') or tostring(result),
      })
    end
  end
end

local function check_server()
  health.start('gemma: server')
  local cfg = require('gemma.config').current.server
  check_command(cfg.cmd)
  if not vim.lsp.is_enabled(require('gemma.client').name) then
    health.warn('vim.lsp.enable("gemma") is off (server.autostart = false)', {
      ':GemmaRestart starts it',
    })
  end
  health.info('Filetypes: ' .. table.concat(cfg.filetypes, ', '))
  if cfg.settings.model then
    health.info('Model setting: ' .. tostring(cfg.settings.model))
  else
    health.info("Model setting: not set (the server command's --model, else auto)")
  end
end

local function check_running()
  health.start('gemma: running server')
  local client_mod = require('gemma.client')
  local client = client_mod.get() or client_mod.any()
  if not client then
    health.info(
      'No gemma-lsp client is running: model, weights and sandbox are unknown'
        .. ' (open a file of a configured filetype, then run :checkhealth gemma again)'
    )
    return
  end
  health.ok(string.format('Client %d running, root %s', client.id, client.root_dir or '(none)'))
  if not client.server_capabilities.inlineCompletionProvider then
    health.warn('The server does not offer inline completion', {
      'Check completion.enabled in server.settings, and the server version',
    })
  end
  local status, err = require('gemma.status').fetch_sync(client, 5000)
  if not status then
    health.warn('gemma.status did not answer: ' .. tostring(err), { 'See :GemmaLog and :LspLog' })
    return
  end
  local model = tostring(status.model or 'unknown')
  if status.state == 'error' then
    health.error('Model ' .. model .. ': ' .. tostring(status.message), {
      'Weights missing? Download the checkpoints (see README), or set server.settings.model',
    })
  elseif status.state == 'loading' then
    health.info('Model ' .. model .. ' is loading: ' .. tostring(status.message or ''))
  else
    health.ok(
      string.format('Model %s: %s on %s', model, tostring(status.state), tostring(status.device))
    )
  end
  if status.placeholder then
    health.warn('The model is a placeholder (tiny random weights): suggestions are gibberish', {
      'Set server.settings.model to a real preset (e4b, 31b, …) once its weights are present',
    })
  end
  if status.weights ~= nil then
    if status.weights then
      health.ok('Weights present')
    else
      health.error(
        'Weights not found',
        { tostring(status.message or 'See the README for downloads') }
      )
    end
  elseif status.state == 'ready' then
    health.ok('Weights loaded')
  end
  local sandbox = status.sandbox
  if type(sandbox) == 'table' then
    if sandbox.available then
      health.ok('Sandbox available' .. (sandbox.kind and (' (' .. sandbox.kind .. ')') or ''))
    else
      health.warn('Sandbox unavailable: ' .. tostring(sandbox.reason or sandbox.message or ''), {
        'Debug sessions cannot run tools; install bubblewrap (bwrap) and allow user namespaces',
      })
    end
  elseif sandbox ~= nil then
    health[sandbox and 'ok' or 'warn']('Sandbox ' .. (sandbox and 'available' or 'unavailable'))
  else
    health.info('Sandbox: unknown (the server did not report it)')
  end
end

function M.check()
  check_neovim()
  check_server()
  check_running()
end

return M
