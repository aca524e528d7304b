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
---@field done fun(outcome: string|nil) ends the session's progress line

--- The session in flight, if any (one at a time).
---@type gemma.DebugSession|nil
M.session = nil

--- The last finished session's outcome: {answer, stopReason, edit} or {cancelled = true} or
--- {error = message}. Tests and statuslines read it.
---@type table|nil
M.last_result = nil

local counter = 0

--- The summary of a WorkspaceEdit when the server sent no `proposal`, e.g. "1 change in calc.py".
---@param result table the gemma.debug result
---@param edit lsp.WorkspaceEdit
---@return string
local function fallback_summary(result, edit)
  local message = type(result.editMessage) == 'string' and result.editMessage or ''
  local from_message = message:match('^[Pp]roposed edit:%s*(.-)%.?$')
  if from_message and from_message ~= '' then
    return from_message
  end
  local count, files = 0, {}
  for _, change in ipairs(require('gemma.diff').file_edits(edit)) do
    count = count + #change.edits
    files[#files + 1] = vim.fs.basename(vim.uri_to_fname(change.uri))
  end
  return string.format(
    '%d change%s in %s',
    count,
    count == 1 and '' or 's',
    table.concat(files, ', ')
  )
end

--- The proposal of a debug result: the server's `proposal` ({edit, diff, summary}), or one made
--- here from the older `edit` field (diff computed locally). nil when there is no edit.
---@param client vim.lsp.Client
---@param result table
---@return {edit: lsp.WorkspaceEdit, diff: string, summary: string}|nil
function M.proposal(client, result)
  local p = result.proposal
  if type(p) == 'table' and type(p.edit) == 'table' then
    return {
      edit = p.edit,
      diff = type(p.diff) == 'string' and p.diff or '',
      summary = type(p.summary) == 'string' and p.summary or fallback_summary(result, p.edit),
    }
  end
  if type(result.edit) == 'table' then
    return {
      edit = result.edit,
      diff = require('gemma.diff').unified(result.edit, client.offset_encoding),
      summary = fallback_summary(result, result.edit),
    }
  end
  return nil
end

--- Applies or offers a proposal according to `debug.apply_edit`. The answer and the diff are on
--- screen before the question is asked.
---@param client vim.lsp.Client
---@param proposal {edit: lsp.WorkspaceEdit, diff: string, summary: string}
---@param diff_win integer|nil the float showing the diff (retitled once applied)
local function offer_edit(client, proposal, diff_win)
  local mode = require('gemma.config').current.debug.apply_edit
  local function apply()
    vim.lsp.util.apply_workspace_edit(proposal.edit, client.offset_encoding)
    log.add('INFO', 'debug: applied ' .. proposal.summary)
    if diff_win and vim.api.nvim_win_is_valid(diff_win) then
      vim.api.nvim_win_set_config(diff_win, { title = ' Applied: ' .. proposal.summary .. ' ' })
    end
    vim.notify('gemma: Applied: ' .. proposal.summary, vim.log.levels.INFO)
  end
  if mode == 'apply' then
    apply()
  elseif mode == 'ask' then
    -- Draw the floats first: the default vim.ui.select takes the command line (and a picker
    -- plugin a window) and must not hide what it asks about.
    vim.cmd.redraw()
    vim.schedule(function()
      vim.ui.select({ 'Apply the proposed edit', 'Discard it' }, {
        prompt = 'Gemma proposes an edit (' .. proposal.summary .. '):',
      }, function(_, idx)
        if idx == 1 then
          apply()
        else
          log.add('INFO', 'debug: discarded the proposed edit')
        end
      end)
    end)
  end
end

--- Shows a finished session's answer (and the diff of its proposed edit) in floats, then offers
--- the edit.
---@param client vim.lsp.Client
---@param result table {answer, proposal, edit, editMessage, stopReason, transcript}
local function show_result(client, result)
  local text = type(result.answer) == 'string' and result.answer or '(no answer)'
  local proposal = M.proposal(client, result)
  local notes = {}
  if not proposal and type(result.editMessage) == 'string' and result.editMessage ~= '' then
    -- Why there is no edit (e.g. a SEARCH block that matched nothing).
    notes[#notes + 1] = '*' .. result.editMessage .. '*'
  end
  if result.stopReason and result.stopReason ~= 'answered' then
    local limit = type(result.limit) == 'string' and (' (' .. result.limit .. ')') or ''
    notes[#notes + 1] = '*stopped: ' .. tostring(result.stopReason) .. limit .. '*'
  end
  if #notes > 0 then
    text = text .. '\n\n---\n' .. table.concat(notes, '\n\n')
  end
  local sections = { { text = text, filetype = 'markdown', title = 'Gemma: debug' } }
  if proposal and proposal.diff ~= '' then
    sections[2] = {
      text = proposal.diff:gsub('\n$', ''),
      filetype = 'diff',
      title = 'Proposed: ' .. proposal.summary,
    }
  end
  local floats = require('gemma.float').open_stack(sections)
  if proposal then
    offer_edit(client, proposal, floats[2] and floats[2].winid)
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
  -- Until the answer (or cancel): the server's progress under our token adds the steps.
  local done = require('gemma.progress').start('debugging… (:GemmaCancel stops it)')
  local id = client_mod.execute(client, bufnr, 'gemma.debug', { args }, function(err, result)
    if not M.session or M.session.token ~= token then
      return -- cancelled meanwhile
    end
    M.session = nil
    done()
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
    M.session =
      { client = client, request_id = id, token = token, tokens = {}, bufnr = bufnr, done = done }
  else
    done()
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
  s.done()
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
