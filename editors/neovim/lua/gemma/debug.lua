--- :GemmaDebug — an ask-to-debug session (`gemma.debug`), its progress, cancel, and its answer.
local client_mod = require('gemma.client')
local log = require('gemma.log')

local M = {}

---@class gemma.DebugSession
---@field client vim.lsp.Client
---@field request_id integer
---@field token string the workDoneToken we sent
---@field tokens table<string, true> progress tokens the server began during the session
---@field bufnr integer

--- The session in flight, if any (one at a time).
---@type gemma.DebugSession|nil
M.session = nil

--- The last finished session's outcome: {answer, stopReason, edit} or {cancelled = true} or
--- {error = message}. Tests and statuslines read it.
---@type table|nil
M.last_result = nil

local counter = 0

--- Applies a debug session's proposed edit according to `debug.apply_edit`.
---@param client vim.lsp.Client
---@param edit lsp.WorkspaceEdit
local function offer_edit(client, edit)
  local mode = require('gemma.config').current.debug.apply_edit
  local function apply()
    vim.lsp.util.apply_workspace_edit(edit, client.offset_encoding)
    log.add('INFO', 'debug: applied the proposed edit')
  end
  if mode == 'apply' then
    apply()
  elseif mode == 'ask' then
    vim.ui.select({ 'Apply the proposed edit', 'Discard it' }, {
      prompt = 'Gemma proposes an edit:',
    }, function(_, idx)
      if idx == 1 then
        apply()
      end
    end)
  end
end

--- Shows a finished session's answer in a float and offers its edit.
---@param client vim.lsp.Client
---@param result table {answer, edit, stopReason, transcript}
local function show_result(client, result)
  local text = type(result.answer) == 'string' and result.answer or '(no answer)'
  local notes = {}
  if type(result.editMessage) == 'string' and result.editMessage ~= '' then
    notes[#notes + 1] = '*' .. result.editMessage .. '*'
  end
  if result.stopReason and result.stopReason ~= 'answered' then
    local limit = type(result.limit) == 'string' and (' (' .. result.limit .. ')') or ''
    notes[#notes + 1] = '*stopped: ' .. tostring(result.stopReason) .. limit .. '*'
  end
  if #notes > 0 then
    text = text .. '\n\n---\n' .. table.concat(notes, '\n\n')
  end
  require('gemma.float').open(text, { title = 'Gemma: debug' })
  if type(result.edit) == 'table' then
    offer_edit(client, result.edit)
  end
end

--- Starts a debug session for the cursor (or the given line range) with an optional question.
---
--- Promises: at most one session runs; progress arrives through $/progress under a token of the
--- form "gemma-debug-N"; the answer opens in a float; errors are reported with vim.notify.
---@param question string|nil
---@param line1 integer|nil
---@param line2 integer|nil
function M.start(question, line1, line2)
  if M.session then
    vim.notify(
      'gemma: a debug session is already running (:GemmaCancel stops it)',
      vim.log.levels.WARN
    )
    return
  end
  local client = client_mod.require()
  if not client then
    return
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local args = { uri = vim.uri_from_bufnr(bufnr) }
  if line1 and line2 and line1 ~= line2 then
    args.range = require('gemma.actions').current_range(client, line1, line2)
  else
    args.position = vim.lsp.util.make_position_params(0, client.offset_encoding).position
  end
  if question and question ~= '' then
    args.question = question
  end
  counter = counter + 1
  local token = 'gemma-debug-' .. counter
  -- The token goes in the arguments too: pygls does not hand a command the params' own token.
  args.workDoneToken = token
  args.version = vim.lsp.util.buf_versions[bufnr]
  log.add('INFO', 'debug: started' .. (args.question and (': ' .. args.question) or ''))
  vim.notify('gemma: debugging… (:GemmaCancel to stop)', vim.log.levels.INFO)
  local id = client_mod.execute(client, bufnr, 'gemma.debug', { args }, function(err, result)
    if not M.session or M.session.token ~= token then
      return -- cancelled meanwhile
    end
    M.session = nil
    if err then
      M.last_result = { error = err.message }
      log.add('ERROR', 'debug: ' .. err.message)
      vim.notify('gemma: debug failed: ' .. err.message, vim.log.levels.ERROR)
      return
    end
    M.last_result = result or {}
    log.add('INFO', 'debug: finished (' .. tostring(M.last_result.stopReason) .. ')')
    show_result(client, M.last_result)
  end, { workDoneToken = token })
  if id then
    M.session = { client = client, request_id = id, token = token, tokens = {}, bufnr = bufnr }
  end
end

--- Notes a progress token the session's server began (see cancel()).
---@param client_id integer
---@param token string|integer
function M.on_progress_begin(client_id, token)
  local s = M.session
  if s and s.client.id == client_id then
    s.tokens[tostring(token)] = true
  end
end

--- Cancels the running session: $/cancelRequest for the request and a progress cancel for its
--- token. Returns false when no session was running.
---@return boolean
function M.cancel()
  local s = M.session
  if not s then
    vim.notify('gemma: no debug session is running', vim.log.levels.INFO)
    return false
  end
  M.session = nil
  -- The server may report under our token or under one it created: cancel every one it began.
  s.tokens[s.token] = true
  for token in pairs(s.tokens) do
    s.client:notify('window/workDoneProgress/cancel', { token = token })
  end
  s.client:cancel_request(s.request_id)
  M.last_result = { cancelled = true }
  log.add('INFO', 'debug: cancelled')
  vim.notify('gemma: debug session cancelled', vim.log.levels.INFO)
  return true
end

return M
