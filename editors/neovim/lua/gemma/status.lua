--- The server's own account of itself (`gemma.status`): {state, model, device, placeholder,
--- message}, plus whatever else it reports (e.g. sandbox).
local client_mod = require('gemma.client')

local M = {}

--- Asks `client` for its status and waits up to `timeout_ms`.
---@param client vim.lsp.Client
---@param timeout_ms integer|nil
---@return table|nil status, string|nil error
function M.fetch_sync(client, timeout_ms)
  local bufnr = next(client.attached_buffers) or vim.api.nvim_get_current_buf()
  local response, err = client:request_sync(
    'workspace/executeCommand',
    { command = 'gemma.status', arguments = {} },
    timeout_ms or 5000,
    bufnr
  )
  if not response then
    return nil, err or 'no response'
  end
  if response.err then
    return nil, response.err.message
  end
  return response.result, nil
end

--- The sandbox report in words, e.g. "available (bubblewrap)" or "not available: no user
--- namespaces".
---@param sandbox any
---@return string
local function sandbox_words(sandbox)
  if type(sandbox) ~= 'table' then
    return 'not checked yet'
  end
  local reason = type(sandbox.reason) == 'string' and sandbox.reason ~= '' and sandbox.reason or nil
  if sandbox.available then
    return 'available' .. (reason and (' (' .. reason .. ')') or '')
  end
  return 'not available' .. (reason and (': ' .. reason) or '')
end

--- A value in words: nested tables as "key value, key value" instead of JSON.
---@param v any
---@return string
local function words(v)
  if v == nil or v == vim.NIL then
    return 'none'
  elseif v == true then
    return 'yes'
  elseif v == false then
    return 'no'
  elseif type(v) == 'table' then
    local keys = vim.tbl_keys(v)
    table.sort(keys, function(a, b)
      return tostring(a) < tostring(b)
    end)
    local parts = {}
    for _, k in ipairs(keys) do
      parts[#parts + 1] = vim.islist(v) and words(v[k]) or (tostring(k) .. ' ' .. words(v[k]))
    end
    return table.concat(parts, ', ')
  end
  return tostring(v)
end

-- The usual fields first, in the order one reads them; anything else the server adds follows.
local ORDER = {
  'state',
  'message',
  'model',
  'placeholder',
  'engine',
  'device',
  'dtype',
  'drafter',
  'sandbox',
  'version',
}

--- One readable line per field, e.g. "state: ready", "sandbox: available (bubblewrap)".
---@param status table
---@return string
function M.format(status)
  local lines, done = {}, {}
  local function add(k)
    local v = status[k]
    done[k] = true
    if v == nil or v == vim.NIL or v == '' then
      return
    end
    if k == 'sandbox' then
      lines[#lines + 1] = 'sandbox: ' .. sandbox_words(v)
    elseif k == 'placeholder' then
      if v == true then
        lines[#lines + 1] = 'placeholder: yes (random weights, for tests)'
      end
    else
      lines[#lines + 1] = string.format('%s: %s', k, words(v))
    end
  end
  for _, k in ipairs(ORDER) do
    add(k)
  end
  local rest = vim.tbl_filter(function(k)
    return not done[k]
  end, vim.tbl_keys(status))
  table.sort(rest)
  for _, k in ipairs(rest) do
    add(k)
  end
  if status.sandbox == nil or status.sandbox == vim.NIL then
    lines[#lines + 1] = 'sandbox: ' .. sandbox_words(nil)
  end
  return table.concat(lines, '\n')
end

--- :GemmaStatus — shows the server's status.
function M.show()
  local client = client_mod.get() or client_mod.any()
  if not client then
    vim.notify('gemma: gemma-lsp is not running (see :checkhealth gemma)', vim.log.levels.WARN)
    return
  end
  local status, err = M.fetch_sync(client)
  if not status then
    vim.notify('gemma: status failed: ' .. tostring(err), vim.log.levels.ERROR)
    return
  end
  vim.notify('gemma-lsp\n' .. M.format(status), vim.log.levels.INFO)
end

return M
