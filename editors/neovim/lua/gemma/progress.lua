--- What gemma-lsp is working on, shown while it works: the server's work-done progress
--- ($/progress, which Neovim's own handler turns into vim.lsp.status() and the LspProgress event)
--- and the plugin's own requests (explain, fix). Both feed one list of activities, which drives
--- the echo line (`progress` option), the statusline component and its spinner.
---
--- Neovim 0.11 shows $/progress nowhere by default, so without fidget.nvim or a statusline plugin a
--- user would see nothing: this module is what shows it.
local log = require('gemma.log')

local M = {}

M.spinner_frames = { '⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏' }
M.frame = 1

---@class gemma.Activity
---@field text string what is happening, lower case, e.g. "explaining…"
---@field started integer order of arrival (the newest is shown)
---@field quiet boolean|nil statusline only, never echoed (e.g. a completion being generated)

--- Activities in flight by key: "progress:<client>:<token>" or "local:<n>".
---@type table<string, gemma.Activity>
M.active = {}

--- Titles of the progress tokens in flight (a report carries no title).
---@type table<string, string>
M.titles = {}

local order = 0
local local_ids = 0
local timer = nil ---@type uv.uv_timer_t|nil
--- What we last echoed, so that clearing never wipes a message someone else wrote since.
local echoed = nil ---@type string|nil

--- The progress title, unless it only repeats the plugin's own "gemma: " prefix (the server's
--- title is "Gemma"): "gemma: Gemma: loading…" is what this avoids.
---@param title string|nil
---@return string|nil
local function useful_title(title)
  if not title or title == '' or title:lower() == 'gemma' then
    return nil
  end
  return (title:gsub('^[Gg]emma:%s*', ''))
end

--- Formats one progress value without prefix, e.g. "loading model: weights (40%)".
---@param value table lsp.WorkDoneProgressBegin|Report|End
---@param title string|nil the title from the begin notification
---@return string
function M.format(value, title)
  local parts = {}
  local t = useful_title(value.title or title)
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
  return text
end

--- The newest activity's text, or nil when nothing runs.
---@param loud_only boolean|nil only activities that are echoed
---@return string|nil
function M.current(loud_only)
  local best = nil ---@type gemma.Activity|nil
  for _, a in pairs(M.active) do
    if (not loud_only or not a.quiet) and (not best or a.started > best.started) then
      best = a
    end
  end
  return best and best.text or nil
end

--- Whether anything runs (a server progress or a plugin request).
---@return boolean
function M.busy()
  return next(M.active) ~= nil
end

local function redraw_status()
  pcall(vim.cmd.redrawstatus)
end

local function echo(text)
  local mode = require('gemma.config').current.progress
  if mode == 'echo' then
    vim.api.nvim_echo({ { text } }, false, {})
    echoed = text
  elseif mode == 'notify' then
    vim.notify(text, vim.log.levels.INFO)
  end
end

--- Clears the echo line if this module wrote to it last.
local function clear_echo()
  if echoed and require('gemma.config').current.progress == 'echo' then
    vim.api.nvim_echo({ { '' } }, false, {})
  end
  echoed = nil
end

--- Starts or stops the spinner timer to match whether anything runs.
local function update_spinner()
  if M.busy() and not timer then
    timer = assert(vim.uv.new_timer())
    timer:start(
      100,
      100,
      vim.schedule_wrap(function()
        M.frame = M.frame % #M.spinner_frames + 1
        redraw_status()
      end)
    )
  elseif not M.busy() and timer then
    timer:stop()
    timer:close()
    timer = nil
    M.frame = 1
  end
  redraw_status()
end

---@param key string
---@param text string
---@param quiet boolean|nil
local function set(key, text, quiet)
  local a = M.active[key]
  if a then
    a.text = text
  else
    order = order + 1
    M.active[key] = { text = text, started = order, quiet = quiet }
  end
  update_spinner()
  if not quiet then
    echo('gemma: ' .. text)
  end
end

--- Outcomes that only say it worked: the line is cleared instead (the statusline shows the state).
local QUIET_OUTCOMES = { done = true, ready = true }

--- Ends activity `key`. `outcome` (e.g. "no usable fix") is echoed; "done", "ready" or nothing
--- clears the line instead, so a finished request leaves no "explaining…" behind.
---@param key string
---@param outcome string|nil
local function finish(key, outcome)
  local a = M.active[key]
  if not a then
    return
  end
  M.active[key] = nil
  update_spinner()
  if a.quiet then
    return
  end
  local rest = M.current(true)
  if rest then
    echo('gemma: ' .. rest)
  elseif outcome and outcome ~= '' and not QUIET_OUTCOMES[outcome] then
    echo('gemma: ' .. outcome)
  else
    clear_echo()
  end
end

--- Starts a plugin-side activity (a request the plugin sent); returns a function that ends it.
---@param text string e.g. "explaining…"
---@return fun(outcome: string|nil)
function M.start(text)
  local_ids = local_ids + 1
  local key = 'local:' .. local_ids
  set(key, text)
  return function(outcome)
    finish(key, outcome)
  end
end

--- Handles one LspProgress event (Neovim's $/progress handler already recorded it for
--- vim.lsp.status()); only the gemma client's progress is shown.
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
  local key = 'progress:' .. client.id .. ':' .. tostring(params.token)
  if value.kind == 'begin' then
    M.titles[key] = value.title
    require('gemma.debug').on_progress_begin(client.id, params.token)
  end
  local text = M.format(value, M.titles[key])
  log.add('INFO', 'progress ' .. (value.kind or '') .. ' ' .. text)
  if value.kind == 'end' then
    M.titles[key] = nil
    finish(key, value.message)
  elseif text ~= '' then
    set(key, text)
  end
end

--- Marks the server as generating (its `gemma/status`): statusline and spinner only.
---@param client_id integer
---@param on boolean
function M.set_generating(client_id, on)
  local key = 'status:' .. client_id
  if on then
    set(key, 'generating', true)
  else
    finish(key)
  end
end

--- Forgets a stopped client's progress (a server that died sends no end).
---@param client_id integer
function M.forget_client(client_id)
  for key in pairs(M.active) do
    if vim.startswith(key, 'progress:' .. client_id .. ':') or key == 'status:' .. client_id then
      M.active[key] = nil
      M.titles[key] = nil
    end
  end
  update_spinner()
end

--- The spinner frame to show now.
---@return string
function M.spinner()
  return M.spinner_frames[M.frame]
end

return M
