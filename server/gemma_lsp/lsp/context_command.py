"""`gemma.context`: what the model would see for a completion at a place (the `gemma-lsp context` JSON)."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from gemma_lsp.context.cli import report
from gemma_lsp.engine.base import ModelUnavailable
from gemma_lsp.lsp.errors import FeatureError


def register(server: Any) -> None:
    @server.command("gemma.context")
    async def context_command(ls: Any, *args: Any) -> dict[str, Any]:
        arg = args[0] if args else None
        if not isinstance(arg, dict) or not isinstance(arg.get("uri"), str) or not isinstance(arg.get("position"), dict):
            raise FeatureError('gemma.context expects [{"uri": ..., "position": {"line": L, "character": C}}]')
        uri, pos = arg["uri"], arg["position"]
        if not (isinstance(pos.get("line"), int) and isinstance(pos.get("character"), int)):
            raise FeatureError("gemma.context: position needs integer line and character")
        if ls.documents.get(uri) is None:
            raise FeatureError(f"{uri} is not open in the editor (open it and try again)")
        render = count = None
        try:
            engine = await ls.get_engine()
            render = lambda messages, prefill: engine.render(messages) + prefill  # noqa: E731
            count = engine.count_tokens
        except ModelUnavailable:
            pass  # still show the context; the prompt itself needs the model's tokenizer
        position = types.Position(line=pos["line"], character=pos["character"])
        return report(ls.context_builder, uri, position, ls.settings.prompt_budget_tokens, render, count)
