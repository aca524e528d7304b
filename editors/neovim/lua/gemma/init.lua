--- gemma.nvim: Gemma 4 through gemma-lsp — ghost-text completions, Explain/Fix code actions and
--- ask-to-debug sessions. See :help gemma.
local M = {}

local did_setup = false

--- Configures and starts the plugin. Safe to call again: a later call replaces the config,
--- the keymaps and the autocmds (one augroup, cleared each time) and updates the server config.
---
--- Invalid options are reported with vim.notify and their defaults used.
---@param opts table|nil see :help gemma-config
function M.setup(opts)
  local config_mod = require('gemma.config')
  local config, errors = config_mod.resolve(opts)
  if #errors > 0 then
    vim.notify(
      'gemma: invalid options (defaults used):\n  ' .. table.concat(errors, '\n  '),
      vim.log.levels.ERROR
    )
  end
  config_mod.current = config

  local completion = require('gemma.completion')
  completion.enabled = config.completion.enabled
  local group = vim.api.nvim_create_augroup('gemma', { clear = true })
  completion.create_autocmds(group)
  completion.set_keymaps()
  local next_edit = require('gemma.next_edit')
  -- Its own group: the completion group's autocmds say which completion path is in use.
  next_edit.create_autocmds(vim.api.nvim_create_augroup('gemma_next_edit', { clear = true }))
  next_edit.set_keymaps()
  vim.api.nvim_create_autocmd('LspProgress', {
    group = group,
    callback = function(args)
      require('gemma.progress').on_progress(args)
    end,
  })
  require('gemma.client').setup()
  did_setup = true
end

--- Whether setup() has run.
---@return boolean
function M.is_setup()
  return did_setup
end

-- The public API, for mappings and statuslines (see :help gemma-api).

function M.accept()
  return require('gemma.completion').accept('all')
end
function M.accept_word()
  return require('gemma.completion').accept('word')
end
function M.accept_line()
  return require('gemma.completion').accept('line')
end
function M.next()
  require('gemma.completion').cycle(1)
end
function M.prev()
  require('gemma.completion').cycle(-1)
end
function M.dismiss()
  return require('gemma.completion').dismiss()
end
function M.is_visible()
  return require('gemma.completion').visible_text() ~= nil
end
function M.toggle(on)
  return require('gemma.completion').toggle(on)
end
function M.next_edit_jump()
  return require('gemma.next_edit').jump()
end
function M.next_edit_accept()
  return require('gemma.next_edit').accept()
end
function M.statusline()
  return require('gemma.client').statusline()
end

return M
