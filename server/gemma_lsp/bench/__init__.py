"""Benchmarks: `python -m gemma_lsp.bench engine|context|sandbox|soak` (see __main__.py)."""
