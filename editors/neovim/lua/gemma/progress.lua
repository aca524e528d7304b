--- Shows gemma-lsp's $/progress (model loading, debug steps). Neovim's own $/progress handler
--- keeps the state and fires LspProgress; this listens to it for the gemma client only.
local log = require('gemma.log')

local M = {}

--- Formats one progress value, e.g. "Loading model: weights (40%)".
---@param value table lsp.WorkDoneProgressBegin|Report|End
---@param title string|nil the title from the begin notification
---@return string
function M.format(value, title)
  local parts = {}
  local t = value.title or title
  if t then
    parts[#parts + 1] = t
  end
  if value.message and value.message ~= '' then
    parts[#parts + 1] = value.message
  end
  local text = table.concat(parts, ': ')
  if value.percentage then
    text = string.format('%s (%d%%)', text, value.percentage)
  end
  if value.kind == 'end' then
    text = text .. ' — done'
  end
  return text
end

local titles = {} ---@type table<string, string>

--- Handles one LspProgress event.
---@param args {data: {client_id: integer, params: {token: any, value: table}}}
function M.on_progress(args)
  local client = vim.lsp.get_client_by_id(args.data.client_id)
  if not client or client.name ~= require('gemma.client').name then
    return
  end
  local params = args.data.params
  local value = params.value
  if type(value) ~= 'table' then
    return
  end
  local key = tostring(params.token)
  if value.kind == 'begin' then
    titles[key] = value.title
    require('gemma.debug').on_progress_begin(client.id, params.token)
  end
  local text = 'gemma: ' .. M.format(value, titles[key])
  if value.kind == 'end' then
    titles[key] = nil
  end
  log.add('INFO', 'progress ' .. text)
  local mode = require('gemma.config').current.progress
  if mode == 'notify' then
    vim.notify(text, vim.log.levels.INFO)
  elseif mode == 'echo' then
    vim.api.nvim_echo({ { text } }, false, {})
  end
end

return M
