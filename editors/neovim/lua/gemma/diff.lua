--- Unified diffs of a WorkspaceEdit, for servers that send an edit without its `proposal.diff`:
--- each changed file's text before and after, as `diff -u` would print it.
local M = {}

--- The text edits of a WorkspaceEdit per document, whichever form it uses.
---@param edit lsp.WorkspaceEdit
---@return {uri: string, edits: lsp.TextEdit[]}[]
function M.file_edits(edit)
  local out = {}
  for _, change in ipairs(edit.documentChanges or {}) do
    if change.textDocument and change.edits then
      out[#out + 1] = { uri = change.textDocument.uri, edits = change.edits }
    end
  end
  local uris = vim.tbl_keys(edit.changes or {})
  table.sort(uris)
  for _, uri in ipairs(uris) do
    out[#out + 1] = { uri = uri, edits = edit.changes[uri] }
  end
  return out
end

--- A path relative to the working directory when inside it.
---@param fname string
---@return string
local function relative(fname)
  local cwd = vim.fn.getcwd()
  if vim.startswith(fname, cwd .. '/') then
    return fname:sub(#cwd + 2)
  end
  return fname
end

--- The lines of `uri` as they are now: the loaded buffer's, else the file's.
---@param uri string
---@return string[]
local function current_lines(uri)
  local bufnr = vim.uri_to_bufnr(uri)
  if not vim.api.nvim_buf_is_loaded(bufnr) then
    vim.fn.bufload(bufnr)
  end
  return vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
end

--- The unified diff (3 lines of context, `--- a/PATH` / `+++ b/PATH`) of every file `edit`
--- changes; nothing is applied.
---@param edit lsp.WorkspaceEdit
---@param encoding string the client's offset encoding
---@return string
function M.unified(edit, encoding)
  local diff = (vim.text and vim.text.diff) or vim.diff
  local chunks = {}
  for _, change in ipairs(M.file_edits(edit)) do
    local before = current_lines(change.uri)
    -- Apply to a scratch copy: the real buffer stays untouched until the user says Apply.
    local scratch = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_lines(scratch, 0, -1, false, before)
    vim.lsp.util.apply_text_edits(change.edits, scratch, encoding)
    local after = vim.api.nvim_buf_get_lines(scratch, 0, -1, false)
    vim.api.nvim_buf_delete(scratch, { force = true })
    local hunks = diff(table.concat(before, '\n') .. '\n', table.concat(after, '\n') .. '\n', {
      ctxlen = 3,
    })
    if type(hunks) == 'string' and hunks ~= '' then
      local path = relative(vim.uri_to_fname(change.uri))
      chunks[#chunks + 1] = string.format('--- a/%s\n+++ b/%s\n%s', path, path, hunks)
    end
  end
  return table.concat(chunks, '')
end

return M
