--- Drawing a suggestion as ghost text: one extmark in one namespace per buffer, the first line
--- inline at the cursor and the rest as virtual lines below it.
local M = {}

M.ns = vim.api.nvim_create_namespace('gemma.ghost_text')
--- The "i/N" counter while cycling, at the end of the cursor line (its own namespace: the
--- suggestion's extmark stays one mark).
M.count_ns = vim.api.nvim_create_namespace('gemma.ghost_count')

--- Draws `text` at (row, col), replacing the buffer's previous suggestion.
---@param bufnr integer
---@param row integer 0-based
---@param col integer byte column
---@param text string
---@return integer extmark id
function M.show(bufnr, row, col, text)
  M.clear(bufnr)
  local lines = vim.split(text, '\n', { plain = true })
  local opts = { hl_mode = 'combine', priority = 1000 }
  if lines[1] ~= '' then
    opts.virt_text = { { lines[1], 'GemmaSuggestion' } }
    opts.virt_text_pos = 'inline'
  end
  if #lines > 1 then
    local virt_lines = {}
    for i = 2, #lines do
      -- An empty chunk list would draw nothing; a space keeps blank lines of the suggestion visible.
      virt_lines[#virt_lines + 1] = { { lines[i] == '' and ' ' or lines[i], 'GemmaSuggestion' } }
    end
    opts.virt_lines = virt_lines
  end
  return vim.api.nvim_buf_set_extmark(bufnr, M.ns, row, col, opts)
end

--- Shows "i/N" at the end of line `row` (replacing the previous counter).
---@param bufnr integer
---@param row integer 0-based
---@param index integer
---@param total integer
function M.show_count(bufnr, row, index, total)
  vim.api.nvim_buf_clear_namespace(bufnr, M.count_ns, 0, -1)
  vim.api.nvim_buf_set_extmark(bufnr, M.count_ns, row, 0, {
    virt_text = { { string.format(' %d/%d', index, total), 'GemmaSuggestionCount' } },
    virt_text_pos = 'eol',
    hl_mode = 'combine',
    priority = 1000,
  })
end

--- The counter shown in `bufnr` ("2/3"), or nil.
---@param bufnr integer
---@return string|nil
function M.count_text(bufnr)
  local marks = vim.api.nvim_buf_get_extmarks(bufnr, M.count_ns, 0, -1, { details = true })
  local m = marks[1]
  return m and vim.trim(m[4].virt_text[1][1]) or nil
end

--- Removes the buffer's suggestion and counter, if any.
---@param bufnr integer
function M.clear(bufnr)
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
    vim.api.nvim_buf_clear_namespace(bufnr, M.count_ns, 0, -1)
  end
end

return M
