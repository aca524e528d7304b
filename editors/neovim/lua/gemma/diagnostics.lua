--- Diagnostics from every source (other language servers, linters) as LSP diagnostics, which is
--- what gemma-lsp explains and fixes.
local M = {}

--- Byte column `col` of line `row` as a UTF-16 offset (LSP's default position encoding).
---@param bufnr integer
---@param row integer 0-based
---@param col integer byte offset
---@return integer
local function utf16_col(bufnr, row, col)
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1]
  if not line then
    return col
  end
  return vim.str_utfindex(line, 'utf-16', math.min(col, #line), false)
end

--- One vim.Diagnostic as an LSP Diagnostic. Diagnostics that came from a language server keep
--- the server's original (user_data.lsp).
---@param bufnr integer
---@param d vim.Diagnostic
---@return lsp.Diagnostic
function M.to_lsp(bufnr, d)
  if d.user_data and d.user_data.lsp then
    return d.user_data.lsp
  end
  local converted = vim.lsp.diagnostic.from({ d })[1]
  local end_lnum = d.end_lnum or d.lnum
  converted.range = {
    start = { line = d.lnum, character = utf16_col(bufnr, d.lnum, d.col) },
    ['end'] = { line = end_lnum, character = utf16_col(bufnr, end_lnum, d.end_col or d.col) },
  }
  return converted
end

--- All diagnostics in `bufnr` whose lines overlap the lines of LSP `range`, from every namespace.
---@param bufnr integer
---@param range lsp.Range
---@return lsp.Diagnostic[]
function M.in_range(bufnr, range)
  local first, last = range.start.line, range['end'].line
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    local d_end = d.end_lnum or d.lnum
    if d.lnum <= last and d_end >= first then
      out[#out + 1] = M.to_lsp(bufnr, d)
    end
  end
  return out
end

--- The diagnostic under the cursor (the closest on the cursor line), or nil.
---@param bufnr integer
---@return lsp.Diagnostic|nil
function M.at_cursor(bufnr)
  local row, col = unpack(vim.api.nvim_win_get_cursor(0))
  row = row - 1
  local best, best_dist
  for _, d in ipairs(vim.diagnostic.get(bufnr, { lnum = row })) do
    local dist = 0
    if col < d.col then
      dist = d.col - col
    elseif d.end_lnum == row and d.end_col and col > d.end_col then
      dist = col - d.end_col
    end
    if not best or dist < best_dist then
      best, best_dist = d, dist
    end
  end
  return best and M.to_lsp(bufnr, best) or nil
end

return M
