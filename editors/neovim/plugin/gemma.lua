-- gemma.nvim: user commands and highlight groups. Everything else loads on first use.
if vim.g.loaded_gemma then
  return
end
vim.g.loaded_gemma = true

if vim.fn.has('nvim-0.11') == 0 then
  vim.notify('gemma.nvim needs Neovim 0.11 or newer', vim.log.levels.ERROR)
  return
end

local function set_highlights()
  vim.api.nvim_set_hl(0, 'GemmaSuggestion', { link = 'Comment', default = true })
  vim.api.nvim_set_hl(0, 'GemmaSuggestionCount', { link = 'NonText', default = true })
end
set_highlights()
-- A colorscheme clears highlight groups; put the default link back.
vim.api.nvim_create_autocmd('ColorScheme', {
  group = vim.api.nvim_create_augroup('gemma.highlights', { clear = true }),
  callback = set_highlights,
})

local command = vim.api.nvim_create_user_command

command('GemmaDebug', function(o)
  if o.bang then
    require('gemma.debug').cancel()
  else
    require('gemma.debug').start(
      o.args,
      o.range > 0 and o.line1 or nil,
      o.range > 0 and o.line2 or nil
    )
  end
end, { nargs = '*', bang = true, range = true, desc = 'Gemma: ask to debug (! cancels)' })

command('GemmaCancel', function()
  require('gemma.debug').cancel()
end, { desc = 'Gemma: cancel the running debug session' })

command('GemmaExplain', function(o)
  require('gemma.actions').explain_here(
    o.range > 0 and o.line1 or nil,
    o.range > 0 and o.line2 or nil,
    o.args
  )
end, { nargs = '*', range = true, desc = 'Gemma: explain the diagnostic, selection or line' })

command(
  'GemmaFix',
  function(o)
    require('gemma.actions').fix_here(
      o.range > 0 and o.line1 or nil,
      o.range > 0 and o.line2 or nil,
      o.args
    )
  end,
  { nargs = '*', range = true, desc = 'Gemma: fix the diagnostic, or change the selection as told' }
)

command('GemmaContext', function()
  require('gemma.context').show()
end, { desc = 'Gemma: show the prompt context at the cursor' })

command('GemmaToggle', function()
  local on = require('gemma.completion').toggle()
  vim.notify('gemma: inline completion ' .. (on and 'on' or 'off'), vim.log.levels.INFO)
end, { desc = 'Gemma: turn inline completion on/off' })

command('GemmaRestart', function()
  require('gemma.client').restart()
end, { desc = 'Gemma: restart gemma-lsp' })

command('GemmaLog', function()
  require('gemma.log').open()
end, { desc = 'Gemma: show what gemma-lsp reported' })

command('GemmaStatus', function()
  require('gemma.status').show()
end, { desc = 'Gemma: show the server status' })
