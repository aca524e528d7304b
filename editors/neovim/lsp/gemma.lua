-- The gemma-lsp config for vim.lsp.config / vim.lsp.enable('gemma'). require('gemma').setup()
-- registers the same config with your options; this file serves users who only call
-- vim.lsp.enable('gemma').
return require('gemma.client').lsp_config()
