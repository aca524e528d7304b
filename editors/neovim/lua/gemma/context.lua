--- :GemmaContext — shows what context gemma-lsp would give the model at the cursor.
local client_mod = require('gemma.client')

local M = {}

--- Requests `gemma.context` for the cursor and opens the JSON in a float.
function M.show()
  local client = client_mod.require()
  if not client then
    return
  end
  local bufnr = vim.api.nvim_get_current_buf()
  local position = vim.lsp.util.make_position_params(0, client.offset_encoding).position
  local args = { { uri = vim.uri_from_bufnr(bufnr), position = position } }
  client_mod.execute(client, bufnr, 'gemma.context', args, function(err, result)
    if err then
      vim.notify('gemma: context failed: ' .. err.message, vim.log.levels.ERROR)
      return
    end
    local text = require('gemma.json').pretty(result)
    require('gemma.float').open(text, { title = 'Gemma: context', filetype = 'json' })
  end)
end

return M
