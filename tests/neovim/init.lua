-- Minimal init for the plugin tests: this checkout's plugin on the runtimepath, nothing from the
-- user's config. Plugins (plugin/gemma.lua) load after this file as for a real user.
local plugin = assert(os.getenv('GEMMA_NVIM_PLUGIN'), 'GEMMA_NVIM_PLUGIN is not set')
vim.opt.runtimepath:prepend(plugin)
vim.o.swapfile = false
vim.o.shadafile = 'NONE'
vim.o.more = false
