--- An nvim-cmp source for Gemma's suggestion (optional: only loaded when you register it).
---
---   require('gemma.cmp').register()              -- once, after nvim-cmp is set up
---   require('cmp').setup({ sources = { { name = 'gemma' }, ... } })
---
--- Implements nvim-cmp's documented source API (new, is_available, get_debug_name, complete,
--- execute); see :help gemma-cmp.
local menu = require('gemma.menu')

local source = {}
source.__index = source

---@return table
function source.new()
  return setmetatable({}, source)
end

function source:get_debug_name()
  return 'gemma'
end

--- Only where gemma-lsp is attached.
---@return boolean
function source:is_available()
  return require('gemma.client').get() ~= nil
end

--- cmp.SourceCompletionApiParams: `context.bufnr` and `context.cursor` ({row, col}, both 1-based).
---@param params table
---@param callback fun(response: {items: lsp.CompletionItem[], isIncomplete: boolean})
function source:complete(params, callback)
  local ctx = params.context
  local bufnr = ctx.bufnr or vim.api.nvim_get_current_buf()
  menu.request(bufnr, ctx.cursor.row - 1, ctx.cursor.col - 1, function(items)
    callback({ items = items, isIncomplete = false })
  end)
end

--- After the item was confirmed: runs its command.
---@param item lsp.CompletionItem
---@param callback fun(item: lsp.CompletionItem|nil)
function source:execute(item, callback)
  menu.execute(item)
  callback(item)
end

local M = { new = source.new }

--- Registers the source with nvim-cmp under the name `gemma`.
function M.register()
  require('cmp').register_source('gemma', source.new())
end

return M
