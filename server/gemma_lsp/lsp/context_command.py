"""`gemma.context`: what the model would see for a completion at a place (features/context_report.py,
the JSON `gemma-lsp context` prints)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from gemma_lsp.engine.base import ModelUnavailable
from gemma_lsp.features.context_report import CountTokens, Render, report
from gemma_lsp.lsp.errors import FeatureError

if TYPE_CHECKING:
    from gemma_lsp.lsp.server import GemmaServer


async def context_command(server: GemmaServer, args: tuple[Any, ...]) -> dict[str, Any]:
    arg = args[0] if args else None
    if not isinstance(arg, dict) or not isinstance(arg.get("uri"), str) or not isinstance(arg.get("position"), dict):
        raise FeatureError('gemma.context expects [{"uri": ..., "position": {"line": L, "character": C}}]')
    uri, pos = arg["uri"], arg["position"]
    if not (isinstance(pos.get("line"), int) and isinstance(pos.get("character"), int)):
        raise FeatureError("gemma.context: position needs integer line and character")
    if server.documents.get(uri) is None:
        raise FeatureError(f"{uri} is not open in the editor (open it and try again)")
    render: Render | None = None
    count: CountTokens | None = None
    try:
        engine = await server.get_engine()
        render = lambda messages, prefill: engine.render(messages) + prefill  # noqa: E731
        count = engine.count_tokens
    except ModelUnavailable:
        pass  # still show the context; the prompt itself needs the model's tokenizer
    position = types.Position(line=pos["line"], character=pos["character"])
    return report(server.context_builder, uri, position, server.settings.prompt_budget_tokens, render, count)


def register(server: GemmaServer) -> None:
    # Handlers close over the typed `server` (pygls passes the same object as `ls`; its type hints
    # are read at run time, where GemmaServer is only a name for the type checker).
    @server.command("gemma.context")
    async def on_context(*args: Any) -> dict[str, Any]:
        return await context_command(server, args)
