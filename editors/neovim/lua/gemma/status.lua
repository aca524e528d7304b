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

--- One line per field, e.g. "state: ready".
---@param status table
---@return string
function M.format(status)
  local keys = vim.tbl_keys(status)
  table.sort(keys)
  local lines = {}
  for _, k in ipairs(keys) do
    local v = status[k]
    lines[#lines + 1] =
      string.format('%s: %s', k, type(v) == 'table' and vim.json.encode(v) or tostring(v))
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
