"""The tool-call codec lives in `gemma_lsp.gemma4.codec`, the one home of Gemma 4's format; this
name stays so that code written against the old path keeps importing."""

from gemma_lsp.gemma4.codec import *  # noqa: F403
