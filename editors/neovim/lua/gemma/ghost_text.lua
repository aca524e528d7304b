--- Drawing a suggestion as ghost text: one extmark in one namespace per buffer, the first line
--- inline at the cursor and the rest as virtual lines below it.
local M = {}

M.ns = vim.api.nvim_create_namespace('gemma.ghost_text')

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

--- Removes the buffer's suggestion, if any.
---@param bufnr integer
function M.clear(bufnr)
  if vim.api.nvim_buf_is_valid(bufnr) then
    vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
end

return M
