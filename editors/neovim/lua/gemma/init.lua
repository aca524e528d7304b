--- gemma.nvim: Gemma 4 through gemma-lsp — ghost-text completions, Explain/Fix code actions and
--- ask-to-debug sessions. See :help gemma.
local M = {}

local did_setup = false

--- Server commands already reported as not executable (each is reported once).
local warned_cmds = {} ---@type table<string, true>

--- Warns once when the server command cannot be run: otherwise a wrong `server.cmd` is silent
--- until one reads the LSP log.
---@param cmd string[]
local function check_server_cmd(cmd)
  local exe = cmd[1]
  if vim.fn.executable(exe) == 1 or warned_cmds[exe] then
    return
  end
  warned_cmds[exe] = true
  vim.notify(
    string.format(
      "gemma: the server command '%s' is not executable (not found or not on PATH), so gemma-lsp"
        .. ' cannot start. Install it (pip install gemma-lsp) or set server.cmd in setup();'
        .. ' see :checkhealth gemma',
      exe
    ),
    vim.log.levels.WARN
  )
end

--- The 'statusline' the plugin sets when the user has none: Neovim's default look (file name,
--- flags, ruler) with the gemma component before the ruler.
M.default_statusline = "%<%f %h%w%m%r%=%{v:lua.require'gemma'.statusline()}  %-14.(%l,%c%V%) %P"

--- The component as a 'statusline' item.
local ITEM = "%{v:lua.require'gemma'.statusline()}  "

--- The 'statusline' value the plugin set last (to recognise it on a later setup()).
local installed = nil ---@type string|nil
--- What 'statusline' was before (put back by `statusline = false`).
local before = ''

--- Adds the component to the statusline only where the user has not set 'statusline' (their
--- own statusline stays untouched: :help gemma-statusline says how to add it there). Neovim 0.11's
--- default is empty (the plugin's default look is used); a non-empty default (0.12) gets the item
--- after its first `%=`.
local function install_statusline()
  local current = vim.go.statusline
  if current == M.default_statusline or current == installed then
    return
  end
  if vim.api.nvim_get_option_info2('statusline', {}).was_set then
    return
  end
  before = current
  if current == '' then
    installed = M.default_statusline
  elseif current:find('%=', 1, true) then
    local at = current:find('%=', 1, true) + 1
    installed = current:sub(1, at) .. ITEM .. current:sub(at + 1)
  else
    installed = current .. '%=' .. ITEM
  end
  vim.go.statusline = installed
end

--- Takes the component out again (setup() with `statusline = false`).
local function uninstall_statusline()
  if installed and vim.go.statusline == installed then
    vim.go.statusline = before
    installed = nil
  end
end

--- Configures and starts the plugin. Safe to call again: a later call replaces the config,
--- the keymaps and the autocmds (one augroup, cleared each time) and updates the server config.
---
--- Invalid options are reported with vim.notify and their defaults used.
---@param opts table|nil see :help gemma-config
function M.setup(opts)
  local config_mod = require('gemma.config')
  local config, errors = config_mod.resolve(opts)
  if #errors > 0 then
    vim.notify(
      'gemma: invalid options (defaults used):\n  ' .. table.concat(errors, '\n  '),
      vim.log.levels.ERROR
    )
  end
  config_mod.current = config
  check_server_cmd(config.server.cmd)
  if config.statusline then
    install_statusline()
  else
    uninstall_statusline()
  end

  local completion = require('gemma.completion')
  completion.enabled = config.completion.enabled
  local group = vim.api.nvim_create_augroup('gemma', { clear = true })
  completion.create_autocmds(group)
  completion.set_keymaps()
  vim.api.nvim_create_autocmd('LspProgress', {
    group = group,
    callback = function(args)
      require('gemma.progress').on_progress(args)
    end,
  })
  require('gemma.client').setup()
  did_setup = true
end

--- Whether setup() has run.
---@return boolean
function M.is_setup()
  return did_setup
end

-- The public API, for mappings and statuslines (see :help gemma-api).

function M.accept()
  return require('gemma.completion').accept('all')
end
function M.accept_word()
  return require('gemma.completion').accept('word')
end
function M.accept_line()
  return require('gemma.completion').accept('line')
end
function M.next()
  require('gemma.completion').cycle(1)
end
function M.prev()
  require('gemma.completion').cycle(-1)
end
function M.dismiss()
  return require('gemma.completion').dismiss()
end
function M.is_visible()
  return require('gemma.completion').visible_text() ~= nil
end
function M.toggle(on)
  return require('gemma.completion').toggle(on)
end
function M.statusline()
  return require('gemma.client').statusline()
end

return M
