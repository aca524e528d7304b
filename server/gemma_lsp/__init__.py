"""gemma-lsp: a language server that runs Gemma 4 with its multi-token-prediction drafter."""

__version__ = "0.1.0"
