"""`python -m gemma_lsp.context FILE:LINE:COL [--workspace DIR]` (see gemma_lsp.context.cli)."""

from gemma_lsp.context.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
