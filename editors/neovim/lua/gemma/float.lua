--- Floating windows for explanations, debug answers and context JSON: a scratch buffer in a
--- centred, focused, scrollable window that `q` or <Esc> closes.
local M = {}

--- The most recently opened float (tests and :GemmaLog read it).
---@type {bufnr: integer, winid: integer}|nil
M.last = nil

--- Opens `text` in a floating window and focuses it.
---
--- Promises: a valid window showing all of `text` in a buffer of `filetype`, sized to the
--- content within `float.max_width` x `float.max_height` and the editor, with `q`/<Esc> mapped
--- to close it. A second call closes the previous float first.
---@param text string
---@param opts {title?: string, filetype?: string}|nil
---@return integer bufnr, integer winid
function M.open(text, opts)
  opts = opts or {}
  local cfg = require('gemma.config').current.float
  if M.last and vim.api.nvim_win_is_valid(M.last.winid) then
    vim.api.nvim_win_close(M.last.winid, true)
  end

  local lines = vim.split(text, '\n', { plain = true })
  local bufnr = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].bufhidden = 'wipe'
  vim.bo[bufnr].modifiable = false
  vim.bo[bufnr].filetype = opts.filetype or 'markdown'

  local width = 20
  for _, line in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(line))
  end
  if opts.title then
    width = math.max(width, vim.fn.strdisplaywidth(opts.title) + 2)
  end
  width = math.min(width, cfg.max_width, math.max(20, vim.o.columns - 4))
  local height = math.min(#lines, cfg.max_height, math.max(3, vim.o.lines - 4))
  height = math.max(height, 1)

  local winid = vim.api.nvim_open_win(bufnr, true, {
    relative = 'editor',
    width = width,
    height = height,
    row = math.max(0, math.floor((vim.o.lines - height) / 2) - 1),
    col = math.max(0, math.floor((vim.o.columns - width) / 2)),
    style = 'minimal',
    border = cfg.border,
    title = opts.title and (' ' .. opts.title .. ' ') or nil,
    title_pos = opts.title and 'center' or nil,
  })
  vim.wo[winid].wrap = true
  vim.wo[winid].linebreak = true
  if vim.bo[bufnr].filetype == 'markdown' then
    vim.wo[winid].conceallevel = 2
  end

  local function close()
    if vim.api.nvim_win_is_valid(winid) then
      vim.api.nvim_win_close(winid, true)
    end
  end
  for _, key in ipairs({ 'q', '<Esc>' }) do
    vim.keymap.set(
      'n',
      key,
      close,
      { buffer = bufnr, nowait = true, desc = 'Close the Gemma window' }
    )
  end
  M.last = { bufnr = bufnr, winid = winid }
  return bufnr, winid
end

return M
