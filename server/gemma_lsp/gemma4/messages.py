"""The chat messages the project sends, in the standard shape Hugging Face chat templates and
OpenAI-compatible servers expect. Every engine gets (and the remote one sends) exactly these.

- An assistant turn that calls tools: `{"role": "assistant", "content": "", "tool_calls": [{"id",
  "type": "function", "function": {"name", "arguments": {...}}}], "reasoning": "..."}`. The thought it
  had before the calls goes in `reasoning`: the canonical template renders it back inside the tool loop
  (and drops it from finished turns). Its visible text is left out: the canonical template would
  render it *after* the tool results and close the turn there, so the model would go on from a
  closed turn.
- A tool result: `{"role": "tool", "tool_call_id", "name", "content": "<string>"}`. This form, not the
  template's `tool_responses` list on the assistant message, because it is the one OpenAI-compatible
  servers accept (the remote engine sends the history as is) and the template pairs each result
  with its call through the id, so several calls in one turn keep their names. The cost: a
  structured result reaches the model as text (JSON) inside `{value:<|"|>...<|"|>}`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gemma_lsp.gemma4.codec import ToolCall, defang

Message = dict[str, Any]


def call_id(number: int) -> str:
    """The id of a session's `number`-th tool call (unique within the session, as the template needs)."""
    return f"call_{number}"


def assistant_calls(calls: Sequence[ToolCall], ids: Sequence[str], reasoning: str | None = None) -> Message:
    """An assistant message making `calls` (arguments as objects, as chat templates need them)."""
    message: Message = {"role": "assistant", "content": "", "tool_calls": [
        {"id": id_, "type": "function", "function": {"name": call.name, "arguments": dict(call.arguments)}}
        for call, id_ in zip(calls, ids, strict=True)]}
    if reasoning:
        message["reasoning"] = reasoning
    return message


def assistant_answer(text: str, reasoning: str | None = None) -> Message:
    """An assistant message that answers (no calls)."""
    message: Message = {"role": "assistant", "content": text}
    if reasoning:
        message["reasoning"] = reasoning
    return message


def tool_result(id_: str, name: str, result: Any) -> Message:
    """A tool message answering call `id_`; the result becomes string content (see `result_text`)."""
    return {"role": "tool", "tool_call_id": id_, "name": name, "content": result_text(result)}


def result_text(result: Any) -> str:
    """A tool result as the text the model reads: a string as is, anything else as JSON. Its strings
    are defanged first, so tool output can never close the string, forge a call or end the turn (and
    the JSON stays valid: escaping only adds backslashes, which forge nothing)."""
    if result is None:
        return ""
    safe = defang(result)
    return safe if isinstance(safe, str) else json.dumps(safe, ensure_ascii=False)


def to_openai(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The messages on the OpenAI wire: the same shape, with each call's arguments as a JSON string
    (servers decode them again before their template runs) and string tool content.

    Messages from before calls had ids get them here: a call without one gets a fresh id, and a result
    without `tool_call_id` answers the oldest unanswered call of its name (else the oldest).
    """
    out: list[dict[str, Any]] = []
    unanswered: list[tuple[str, str]] = []  # (call id, function name)
    for message in messages:
        item = dict(message)
        if item.get("role") == "assistant" and item.get("tool_calls"):
            item["tool_calls"] = []
            for call in message["tool_calls"]:
                wire = _wire_call(call, fallback_id=f"call_{len(out)}_{len(item['tool_calls'])}")
                item["tool_calls"].append(wire)
                unanswered.append((wire["id"], wire["function"]["name"]))
            if item.get("content") is None:
                item["content"] = ""
        elif item.get("role") == "tool":
            if not isinstance(item.get("content"), str):
                item["content"] = result_text(item.get("content"))
            answered = next((c for c in unanswered if c[0] == item.get("tool_call_id")), None)
            if answered is None and "tool_call_id" not in item and unanswered:
                answered = next((c for c in unanswered if c[1] == item.get("name")), unanswered[0])
                item["tool_call_id"] = answered[0]
            if answered is not None:
                unanswered.remove(answered)
        out.append(item)
    return out


def _wire_call(call: dict[str, Any], fallback_id: str) -> dict[str, Any]:
    function = dict(call.get("function", call))
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        function["arguments"] = json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)
    return {"id": call.get("id") or fallback_id, "type": "function",
            "function": {"name": function.get("name", ""), "arguments": function["arguments"]}}
