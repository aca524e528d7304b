"""Prompt context for completions: documents with incremental tree-sitter trees, the context builder,
the Gemma 4 completion prompt, post-processing of the model's reply, the completion cache and the
background workspace symbol index."""
