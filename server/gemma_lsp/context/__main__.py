"""`python -m gemma_lsp.context FILE:LINE:COL [--workspace DIR]`: the same as `gemma-lsp context`."""

import sys

from gemma_lsp.cli import context_main

raise SystemExit(context_main(sys.argv[1:]))
