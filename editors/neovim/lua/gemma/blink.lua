--- A blink.cmp source for Gemma's suggestion (optional). In blink.cmp's config:
---
---   sources = {
---     default = { 'lsp', 'path', 'buffer', 'gemma' },
---     providers = { gemma = { name = 'Gemma', module = 'gemma.blink', async = true } },
---   }
---
--- Implements blink.cmp's documented source API (new, enabled, get_completions returning a cancel
--- function, execute); see :help gemma-blink.
local menu = require('gemma.menu')

local source = {}
source.__index = source

---@param opts table|nil `providers.gemma.opts` (none used)
function source.new(opts)
  return setmetatable({ opts = opts or {} }, source)
end

--- Only where gemma-lsp is attached.
---@return boolean
function source:enabled()
  return require('gemma.client').get() ~= nil
end

--- blink.cmp.Context: `bufnr` and `cursor` ({row 1-based, col 0-based}).
---@param ctx table
---@param callback fun(response: {items: lsp.CompletionItem[], is_incomplete_forward: boolean, is_incomplete_backward: boolean})
---@return fun() cancel
function source:get_completions(ctx, callback)
  local bufnr = ctx.bufnr or vim.api.nvim_get_current_buf()
  return menu.request(bufnr, ctx.cursor[1] - 1, ctx.cursor[2], function(items)
    callback({ items = items, is_incomplete_forward = false, is_incomplete_backward = false })
  end)
end

--- On accept: blink's own insertion (default_implementation), then the item's command.
---@param ctx table
---@param item lsp.CompletionItem
---@param callback fun()
---@param default_implementation fun(context?: table, item?: table)|nil
function source:execute(ctx, item, callback, default_implementation)
  if default_implementation then
    default_implementation()
  end
  menu.execute(item)
  callback()
end

return source
