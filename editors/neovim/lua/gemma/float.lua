--- Floating windows for explanations, debug answers and context JSON: a scratch buffer in a
--- centred, focused, scrollable window that `q` or <Esc> closes.
local M = {}

--- The most recently opened float (tests and :GemmaLog read it).
---@type {bufnr: integer, winid: integer}|nil
M.last = nil

--- The floats of the last open_stack() (first one focused), e.g. a debug answer and its diff.
---@type {bufnr: integer, winid: integer}[]
M.stack = {}

--- Closes every float this module opened that is still open.
local function close_all()
  local wins = {}
  if M.last then
    wins[#wins + 1] = M.last.winid
  end
  for _, f in ipairs(M.stack) do
    wins[#wins + 1] = f.winid
  end
  for _, win in ipairs(wins) do
    if vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_close(win, true)
    end
  end
  M.stack = {}
end

--- A scratch buffer holding `lines`, with `filetype`; markdown is drawn with treesitter so that
--- its markup (`**`, backticks, fences) is concealed (the window gets conceallevel=2).
---@param lines string[]
---@param filetype string
---@return integer bufnr
local function scratch(lines, filetype)
  local bufnr = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].bufhidden = 'wipe'
  vim.bo[bufnr].modifiable = false
  vim.bo[bufnr].filetype = filetype
  if filetype == 'markdown' then
    -- Neovim bundles the markdown parsers; its highlight queries conceal the markup.
    pcall(vim.treesitter.start, bufnr, 'markdown')
  end
  return bufnr
end

--- Window options shared by all floats, and `q`/<Esc> to close every float of the group.
---@param bufnr integer
---@param winid integer
local function decorate(bufnr, winid)
  vim.wo[winid].wrap = true
  vim.wo[winid].linebreak = true
  if vim.bo[bufnr].filetype == 'markdown' then
    vim.wo[winid].conceallevel = 2
    vim.wo[winid].concealcursor = 'nc'
  end
  for _, key in ipairs({ 'q', '<Esc>' }) do
    vim.keymap.set(
      'n',
      key,
      close_all,
      { buffer = bufnr, nowait = true, desc = 'Close the Gemma window' }
    )
  end
end

---@param lines string[]
---@param title string|nil
---@return integer
local function content_width(lines, title)
  local width = 20
  for _, line in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(line))
  end
  if title then
    width = math.max(width, vim.fn.strdisplaywidth(title) + 2)
  end
  return width
end

--- Opens several floats stacked top to bottom in the middle of the editor, all visible at once,
--- the first one focused (e.g. a debug answer above the diff of its proposed edit). `q` or <Esc>
--- in any of them closes them all.
---@param sections {text: string, filetype?: string, title?: string}[]
---@return {bufnr: integer, winid: integer}[]
function M.open_stack(sections)
  local cfg = require('gemma.config').current.float
  close_all()
  local border = cfg.border == 'none' and 0 or 2
  local all_lines, width = {}, 20
  for i, section in ipairs(sections) do
    all_lines[i] = vim.split(section.text, '\n', { plain = true })
    width = math.max(width, content_width(all_lines[i], section.title))
  end
  width = math.min(width, cfg.max_width, math.max(20, vim.o.columns - 4))
  -- Share the rows: each float gets what it needs, the last ones first (a diff is short and must
  -- stay whole), within max_height and the screen.
  local budget = math.max(#sections * 3, vim.o.lines - 3 - #sections * border)
  local heights = {}
  for i = #sections, 1, -1 do
    local others = (i - 1) * 3
    heights[i] = math.max(1, math.min(#all_lines[i], cfg.max_height, budget - others))
    budget = budget - heights[i]
  end
  local total = 0
  for i = 1, #sections do
    total = total + heights[i] + border
  end
  local row = math.max(0, math.floor((vim.o.lines - total) / 2) - 1)
  local col = math.max(0, math.floor((vim.o.columns - width) / 2))
  local opened = {}
  for i, section in ipairs(sections) do
    local bufnr = scratch(all_lines[i], section.filetype or 'markdown')
    local winid = vim.api.nvim_open_win(bufnr, i == 1, {
      relative = 'editor',
      width = width,
      height = heights[i],
      row = row,
      col = col,
      style = 'minimal',
      border = cfg.border,
      title = section.title and (' ' .. section.title .. ' ') or nil,
      title_pos = section.title and 'center' or nil,
    })
    decorate(bufnr, winid)
    opened[i] = { bufnr = bufnr, winid = winid }
    row = row + heights[i] + border
  end
  M.stack = opened
  M.last = opened[1]
  return opened
end

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
  close_all()

  local lines = vim.split(text, '\n', { plain = true })
  local bufnr = scratch(lines, opts.filetype or 'markdown')
  local width =
    math.min(content_width(lines, opts.title), cfg.max_width, math.max(20, vim.o.columns - 4))
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
  decorate(bufnr, winid)
  M.last = { bufnr = bufnr, winid = winid }
  return bufnr, winid
end

return M
