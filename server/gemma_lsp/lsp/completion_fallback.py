"""`textDocument/completion` for clients that do not speak inline completion (Helix, eglot, Sublime, Kate).

The provider is registered at `initialize` only when the client does not advertise
`textDocument.inlineCompletion`: a client that shows ghost text (VS Code, the Neovim plugin, Neovim
0.12) never gets the same suggestion a second time in its completion menu. It is a static
registration, decided per client, because most of the clients it serves cannot register capabilities
dynamically.

The suggestion is the inline completion's (same context, engine, cache and supersession), as one
item: its textEdit replaces the word typed before the cursor with that word plus the suggestion;
`sortText` and `preselect` put it first; `isIncomplete` makes the client ask again as the user types
(answered from the completion cache while they type through the suggestion). `completionItem/resolve`
adds the whole suggestion as documentation.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from gemma_lsp.features import completion_item
from gemma_lsp.lsp import completion

if TYPE_CHECKING:
    from gemma_lsp.lsp.server import GemmaServer

log = logging.getLogger(__name__)

TRIGGER_CHARACTERS = [".", "(", "[", "{", ",", "="]
# Sorts before letters, digits and the usual "0001"-style keys of other servers. Printable: Emacs'
# JSON parser rejects a NUL in a string, and with it the whole reply.
SORT_FIRST = "!"
_DATA_KEY = "gemma"


def wants_fallback(capabilities: types.ClientCapabilities | None) -> bool:
    """Whether the client needs completion items: it did not advertise inline completion."""
    text_document = capabilities.text_document if capabilities else None
    return not (text_document and text_document.inline_completion is not None)


async def complete(server: GemmaServer, params: types.CompletionParams) -> types.CompletionList:
    uri, position = params.text_document.uri, params.position
    nothing = types.CompletionList(is_incomplete=True, items=[])
    inline = await completion.inline_completion(server, types.InlineCompletionParams(
        text_document=params.text_document, position=position,
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
    doc = server.documents.get(uri)
    if not inline.items or doc is None:
        return nothing
    first = inline.items[0]
    text = first.insert_text if isinstance(first.insert_text, str) else first.insert_text.value
    offset = server.documents.offset_at(uri, position)
    line_start = doc.lines.starts[position.line]
    item = completion_item.suggestion_item(doc.text[line_start:offset], text)
    start = server.documents.position_at(uri, offset - len(item.word))
    # The inline item may also replace text after the cursor; a completion edit may span one line only.
    end = first.range.end if first.range and first.range.end.line == position.line else position
    return types.CompletionList(is_incomplete=True, items=[types.CompletionItem(
        label=item.label,
        kind=types.CompletionItemKind.Text,
        detail=completion_item.DETAIL,
        sort_text=SORT_FIRST,
        filter_text=item.filter_text,
        preselect=True,
        text_edit=types.TextEdit(range=types.Range(start=start, end=end), new_text=item.new_text),
        insert_text_format=types.InsertTextFormat.PlainText,
        # The suggestion's lines carry their own indentation: clients must not add the line's again.
        insert_text_mode=types.InsertTextMode.AsIs,
        data={_DATA_KEY: "suggestion", "languageId": doc.language_id or ""},
    )])


def resolve(server: GemmaServer, item: types.CompletionItem) -> types.CompletionItem:
    """Add the whole suggestion as documentation (only for the item the user looks at)."""
    data = item.data if isinstance(item.data, dict) else {}
    if data.get(_DATA_KEY) != "suggestion" or item.text_edit is None:
        return item  # not ours
    language = data.get("languageId")
    language = language if isinstance(language, str) else ""
    item.documentation = types.MarkupContent(kind=types.MarkupKind.Markdown,
                                             value=completion_item.documentation(item.text_edit.new_text, language))
    return item


def on_initialize(server: GemmaServer, params: types.InitializeParams) -> None:
    """Register the completion provider for clients without inline completion (see the docstring).
    Called by the server's initialize handler, before pygls computes the capabilities it answers."""
    if not wants_fallback(params.capabilities) or types.TEXT_DOCUMENT_COMPLETION in server.protocol.fm.features:
        return
    log.info("the client has no inline completion: suggestions come as completion items")

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS, resolve_provider=True))
    async def on_completion(params: types.CompletionParams) -> types.CompletionList:
        return await complete(server, params)

    @server.feature(types.COMPLETION_ITEM_RESOLVE)
    def on_resolve(item: types.CompletionItem) -> types.CompletionItem:
        return resolve(server, item)


def register(server: GemmaServer) -> None:
    """Nothing to register before initialize: the provider depends on the client (on_initialize)."""
