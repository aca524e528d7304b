--- Gemma's suggestion as a completion-menu item, shared by the nvim-cmp source (gemma.cmp) and
--- the blink.cmp source (gemma.blink): the same textDocument/inlineCompletion request the ghost
--- text uses, its item turned into an LSP CompletionItem whose textEdit replaces the word being
--- typed (so the menu's fuzzy filter keeps it while the user types on).
local client_mod = require('gemma.client')

local M = {}

local TRIGGER_AUTOMATIC = 2
local LABEL_CHARS = 60

--- Markdown fence for the documentation window.
---@param bufnr integer
---@param text string
---@return string
local function fenced(bufnr, text)
  return string.format('```%s\n%s\n```', vim.bo[bufnr].filetype, text)
end

--- CompletionItems for an inlineCompletion `result` at (row, col) of `bufnr`. Ranges are in
--- UTF-16, the LSP default both menus assume for their own sources.
---@param result any
---@param client {id: integer, offset_encoding: string}
---@param bufnr integer
---@param row integer 0-based
---@param col integer 0-based byte column of the cursor
---@return lsp.CompletionItem[]
function M.items(result, client, bufnr, row, col)
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local before = line:sub(1, col)
  local word = before:match('[%w_]*$') or ''
  local start_char = vim.str_utfindex(line, 'utf-16', col - #word, false)
  local end_char = vim.str_utfindex(line, 'utf-16', col, false)
  local out = {}
  for i, s in ipairs(require('gemma.completion').normalize(result, client, bufnr, row, col)) do
    local text = word .. s.display
    local first = text:match('^[^\n]*')
    local label = first
    if #label > LABEL_CHARS then
      label = label:sub(1, LABEL_CHARS) .. '…'
    elseif first ~= text then
      label = label .. ' …'
    end
    out[#out + 1] = {
      label = label,
      filterText = first,
      sortText = string.format('0000%d', i),
      kind = 1, -- Text
      detail = 'Gemma',
      documentation = { kind = 'markdown', value = fenced(bufnr, text) },
      insertTextFormat = 1, -- plain text: the model's `$` is not a snippet placeholder
      textEdit = {
        newText = text,
        range = {
          start = { line = row, character = start_char },
          ['end'] = { line = row, character = end_char },
        },
      },
      command = s.command,
      data = { gemma = true, client_id = client.id },
    }
  end
  return out
end

--- Requests the suggestion at (row, col) of `bufnr` and calls `on_items(items)` once (an empty
--- list when there is no client, an error, or the buffer changed meanwhile). Returns a function
--- that cancels the request.
---@param bufnr integer
---@param row integer 0-based
---@param col integer 0-based byte column
---@param on_items fun(items: lsp.CompletionItem[])
---@return fun()
function M.request(bufnr, row, col, on_items)
  local client = client_mod.get(bufnr)
  if not client or not client.server_capabilities.inlineCompletionProvider then
    on_items({})
    return function() end
  end
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = {
      line = row,
      character = vim.str_utfindex(line, client.offset_encoding, col, false),
    },
    context = { triggerKind = TRIGGER_AUTOMATIC },
  }
  local tick = vim.b[bufnr].changedtick
  local answered = false
  local ok, id = client:request('textDocument/inlineCompletion', params, function(err, result)
    if answered then
      return
    end
    answered = true
    if err or not vim.api.nvim_buf_is_valid(bufnr) or vim.b[bufnr].changedtick ~= tick then
      on_items({})
      return
    end
    on_items(M.items(result, client, bufnr, row, col))
  end, bufnr)
  if not ok then
    answered = true
    on_items({})
  end
  return function()
    if not answered and ok and id then
      answered = true
      pcall(client.cancel_request, client, id)
    end
  end
end

--- Runs an accepted item's command (the server's acceptance bookkeeping), if any.
---@param item lsp.CompletionItem
function M.execute(item)
  local data = item.data or {}
  local client = data.client_id and vim.lsp.get_client_by_id(data.client_id)
  if item.command and client then
    client:exec_cmd(item.command, { bufnr = vim.api.nvim_get_current_buf() })
  end
end

return M
