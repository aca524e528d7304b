"""Gemma 4's prompt and output format, in one place, below every other package.

- `tokens`: the special tokens and the tokens that end a model turn.
- `template`: the chat template the fixture tokenizer carries (E2B/E4B and 26B/31B variants), the
  variant a served model needs, and the one rendering helper every engine uses.
- `messages`: the message shapes the project sends (Hugging Face / OpenAI tool calls and results).
- `codec`: tool-call values rendered as the template renders them, and model output parsed back.

Nothing here imports another gemma_lsp package, so every layer (engines, agent, context, toolbox)
can import it.
"""
