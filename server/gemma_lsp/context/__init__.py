"""Prompt context for inline completions, built with tree-sitter under a strict time budget.

The path of one completion, as features/completion.py runs it:

    store = DocumentStore(encoding)                  # documents.py: text + incremental tree per document
    builder = ContextBuilder(store, engine.count_tokens, index)      # builder.py
    ctx = builder.build(uri, position, budget_tokens)                # parts ranked and fitted
    messages, prefill = completion_messages(ctx)                     # prompt.py: Gemma 4 chat, no FIM
    request = GenerationRequest(messages, prefill=prefill, stop_check=stop_check_for(ctx), ...)
    text = clean_completion(reply, ctx)                              # postprocess.py
    cache.store(uri, ctx.text_before, ctx.text_after, text)          # cache.py: type-through

Also here: languages.py (the eight grammar wheels, LSP ids, node types, queries), positions.py
(UTF-8/16/32 positions and tree-sitter bytes), shape.py (single vs multi line), symbols.py
(definitions as signature + docstring) and index.py (background workspace index). What a completion
would send is reported by features/context_report.py (`gemma-lsp context FILE:LINE:COL`, also
`python -m gemma_lsp.context`).
"""
