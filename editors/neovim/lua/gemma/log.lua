--- An in-memory log of what gemma-lsp said (log messages, status changes, progress) and what the
--- plugin did, shown by :GemmaLog. The server's stderr goes to Neovim's LSP log as usual.
local M = {}

---@class gemma.LogEntry
---@field time string
---@field level string
---@field message string

---@type gemma.LogEntry[]
M.entries = {}

local level_names = { 'ERROR', 'WARN', 'INFO', 'LOG', 'DEBUG' }

--- Records one entry; the oldest are dropped past `log.max_entries`.
---@param level string 'ERROR'|'WARN'|'INFO'|'LOG'|'DEBUG'
---@param message string
function M.add(level, message)
  local max = require('gemma.config').current.log.max_entries
  M.entries[#M.entries + 1] = { time = os.date('%H:%M:%S'), level = level, message = message }
  while #M.entries > max do
    table.remove(M.entries, 1)
  end
end

--- The name for an LSP MessageType (1 Error .. 5 Debug).
---@param message_type integer
---@return string
function M.level_name(message_type)
  return level_names[message_type] or 'LOG'
end

--- The log as lines, one per entry (multi-line messages are indented under their header).
---@return string[]
function M.lines()
  local lines = {}
  for _, e in ipairs(M.entries) do
    local parts = vim.split(e.message, '\n', { plain = true })
    lines[#lines + 1] = string.format('%s %-5s %s', e.time, e.level, parts[1])
    for i = 2, #parts do
      lines[#lines + 1] = '               ' .. parts[i]
    end
  end
  return lines
end

local BUF_NAME = 'gemma://log'

--- Opens (or refreshes) the log buffer in a split and returns its number.
---@return integer bufnr
function M.open()
  local bufnr = vim.fn.bufnr(BUF_NAME)
  if bufnr == -1 then
    bufnr = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(bufnr, BUF_NAME)
    vim.bo[bufnr].bufhidden = 'hide'
    vim.bo[bufnr].filetype = 'gemmalog'
  end
  local lines = M.lines()
  if #lines == 0 then
    lines = { '(nothing logged yet)' }
  end
  local settings = require('gemma.config').current.server.settings
  vim.list_extend(lines, {
    '',
    '-- Server stderr and LSP traffic: ' .. vim.lsp.get_log_path(),
  })
  if type(settings.logFile) == 'string' then
    lines[#lines + 1] = '-- Server log file: ' .. settings.logFile
  end
  vim.bo[bufnr].modifiable = true
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  vim.bo[bufnr].modifiable = false
  local win = vim.fn.bufwinid(bufnr)
  if win == -1 then
    vim.cmd('botright split')
    vim.api.nvim_win_set_buf(0, bufnr)
  else
    vim.api.nvim_set_current_win(win)
  end
  vim.api.nvim_win_set_cursor(0, { math.max(1, #lines - 2), 0 })
  return bufnr
end

return M
