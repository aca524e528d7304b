--- Explain and Fix: the client side of the `gemma.explain` / `gemma.fix` commands.
---
--- The server's code actions (listed in vim.lsp.buf.code_action()) resolve to these commands.
--- Neovim runs a command through the client's `commands` table before asking the server, so the
--- handlers here send workspace/executeCommand themselves and render the result: explanations in
--- a float (the server is told `clientRendersExplanations`), fixes as the server's applyEdit.
local client_mod = require('gemma.client')
local log = require('gemma.log')

local M = {}

--- An LSP range for the current buffer: the given line range (from a command's range), the
--- diagnostic under the cursor, or the cursor line.
---@param client vim.lsp.Client
---@param line1 integer|nil 1-based first line of a command range
---@param line2 integer|nil 1-based last line
---@return lsp.Range range, lsp.Diagnostic|nil diagnostic
function M.current_range(client, line1, line2)
  local bufnr = vim.api.nvim_get_current_buf()
  if line1 and line2 and line1 ~= line2 then
    local last = vim.api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ''
    local params = vim.lsp.util.make_given_range_params(
      { line1, 0 },
      { line2, math.max(#last - 1, 0) },
      bufnr,
      client.offset_encoding
    )
    return params.range, nil
  end
  local diagnostic = require('gemma.diagnostics').at_cursor(bufnr)
  if diagnostic then
    return diagnostic.range, diagnostic
  end
  local row = vim.api.nvim_win_get_cursor(0)[1] - 1
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local width = vim.str_utfindex(line, client.offset_encoding, #line, false)
  return { start = { line = row, character = 0 }, ['end'] = { line = row, character = width } }, nil
end

--- Runs `gemma.explain` with `arguments` and shows the explanation in a float.
---@param client vim.lsp.Client
---@param bufnr integer
---@param arguments any[]
function M.explain(client, bufnr, arguments)
  -- Shown until the answer arrives (then cleared); the server's own progress may add detail.
  local done = require('gemma.progress').start('explaining…')
  local sent = client_mod.execute(client, bufnr, 'gemma.explain', arguments, function(err, result)
    done(err and 'explain failed' or nil)
    if err then
      log.add('ERROR', 'gemma.explain: ' .. err.message)
      vim.notify('gemma: explain failed: ' .. err.message, vim.log.levels.ERROR)
      return
    end
    if type(result) ~= 'table' or type(result.markdown) ~= 'string' then
      vim.notify('gemma: the server returned no explanation', vim.log.levels.WARN)
      return
    end
    log.add('INFO', 'explanation: ' .. (result.title or ''))
    require('gemma.float').open(result.markdown, { title = result.title or 'Gemma: explanation' })
  end)
  if not sent then
    done()
  end
end

--- Runs `gemma.fix`; the server applies the edit through workspace/applyEdit. Without a
--- diagnostic or an instruction, asks the user what to do first.
---@param client vim.lsp.Client
---@param bufnr integer
---@param arguments any[]
function M.fix(client, bufnr, arguments)
  local args = arguments[1] or {}
  local function send()
    local done = require('gemma.progress').start('computing the fix…')
    local sent = client_mod.execute(client, bufnr, 'gemma.fix', { args }, function(err, result)
      done()
      if err then
        log.add('ERROR', 'gemma.fix: ' .. err.message)
        vim.notify('gemma: fix failed: ' .. err.message, vim.log.levels.ERROR)
        return
      end
      result = type(result) == 'table' and result or {}
      local message = result.message or (result.applied and 'fix applied' or 'no fix applied')
      log.add('INFO', 'fix: ' .. message)
      vim.notify(
        'gemma: ' .. message,
        result.applied and vim.log.levels.INFO or vim.log.levels.WARN
      )
    end)
    if not sent then
      done()
    end
  end
  if args.diagnostic == nil and (args.instruction == nil or args.instruction == '') then
    vim.ui.input({ prompt = 'Gemma: what should change? ' }, function(input)
      if input and input ~= '' then
        args.instruction = input
        send()
      end
    end)
  else
    send()
  end
end

--- The client-side command table for vim.lsp.config (`commands`).
---@return table<string, fun(command: lsp.Command, ctx: table)>
function M.client_commands()
  local function wrap(fn)
    return function(command, ctx)
      local client = vim.lsp.get_client_by_id(ctx.client_id)
      if client then
        fn(client, ctx.bufnr, vim.deepcopy(command.arguments or {}))
      end
    end
  end
  return { ['gemma.explain'] = wrap(M.explain), ['gemma.fix'] = wrap(M.fix) }
end

--- :GemmaExplain [question] — explains the diagnostic under the cursor, the given range, or the
--- line; a question steers the explanation.
---@param line1 integer|nil
---@param line2 integer|nil
---@param question string|nil
function M.explain_here(line1, line2, question)
  local client = client_mod.require()
  if not client then
    return
  end
  local range, diagnostic = M.current_range(client, line1, line2)
  local bufnr = vim.api.nvim_get_current_buf()
  M.explain(client, bufnr, {
    {
      uri = vim.uri_from_bufnr(bufnr),
      range = range,
      diagnostic = diagnostic,
      version = vim.lsp.util.buf_versions[bufnr],
      question = question ~= '' and question or nil,
    },
  })
end

--- :GemmaFix [instruction] — fixes the diagnostic under the cursor, or changes the range or line
--- as instructed.
---@param line1 integer|nil
---@param line2 integer|nil
---@param instruction string|nil
function M.fix_here(line1, line2, instruction)
  local client = client_mod.require()
  if not client then
    return
  end
  local range, diagnostic = M.current_range(client, line1, line2)
  local bufnr = vim.api.nvim_get_current_buf()
  if instruction == '' then
    instruction = nil
  end
  M.fix(client, bufnr, {
    {
      uri = vim.uri_from_bufnr(bufnr),
      range = range,
      diagnostic = instruction == nil and diagnostic or nil,
      instruction = instruction,
      version = vim.lsp.util.buf_versions[bufnr],
    },
  })
end

return M
