"""Gemma 4's native function-calling format: render values, calls and responses; parse model output.

The value syntax (what sits between the braces of `call:NAME{...}`):

    value  := string | number | true | false | null | object | array
    string := <|"|> any text not containing <|"|> <|"|>
    object := { [key : value (, key : value)*] }     keys are bare (or, leniently, <|"|>-quoted)
    array  := [ [value (, value)*] ]

Rendering is byte-identical to the `render_value` macro of `models/chat_template.jinja` (object keys
sorted case-sensitively, floats as Python prints them), so a history rendered by the tokenizer's chat
template and text rendered here agree token for token.

A string cannot contain the delimiter `<|"|>` itself: there is no escape in the format. `render_value`
refuses such a string (CodecError); `render_tool_response` and `defang` are for untrusted text (file
contents, test output) and rewrite every Gemma control-token look-alike (`<|"|>`, `<|tool_call>`,
`<turn|>`, ...) by putting a backslash before its `|` characters, so text a tool returns can never
close a string, forge a tool call or end the model's turn.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STRING_DELIM = '<|"|>'
CALL_OPEN = "<|tool_call>"
CALL_CLOSE = "<tool_call|>"
RESPONSE_OPEN = "<|tool_response>"
RESPONSE_CLOSE = "<tool_response|>"
THOUGHT_OPEN = "<|channel>"
THOUGHT_CLOSE = "<channel|>"
TURN_END = "<turn|>"

# Keys written bare. The parser accepts the same set (plus <|"|>-quoted keys, which some templates emit).
BARE_KEY = re.compile(r"[A-Za-z0-9_$@][A-Za-z0-9_.\-$@]*")
TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# Gemma 4 control tokens look like <|name>, <name|> or <|name|> (name includes the `"` of <|"|>).
_CONTROL_TOKEN = re.compile(r'<\|[A-Za-z_"]{1,24}\|?>|<[A-Za-z_"]{1,24}\|>')
# Text after which a generation is over; removed from the end of model output before parsing.
_TRAILERS = (RESPONSE_OPEN, TURN_END, "<eos>")


class CodecError(ValueError):
    """Text that is not valid Gemma 4 value syntax, or a value that has no Gemma 4 rendering."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message if position is None else f"{message} at position {position}")
        self.reason = message
        self.position = position


@dataclass
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class CallError:
    """A tool call the model wrote that could not be read; `message` is meant for the model."""

    raw: str
    message: str


@dataclass
class ParsedTurn:
    text: str  # what the model said outside thoughts and tool calls, stripped
    calls: list[ToolCall]
    errors: list[CallError]
    thought: str | None  # the reasoning channel's text, if the model thought aloud


# ---------------------------------------------------------------------------------------------- render


def render_value(value: Any) -> str:
    """Render a JSON-like value in Gemma 4 syntax, exactly as the chat template's `render_value` does.

    Raises CodecError for values the format cannot carry: strings containing `<|"|>`, non-finite
    floats, non-string or non-bare object keys, and types other than None/bool/int/float/str/
    mapping/list/tuple.
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        if STRING_DELIM in value:
            raise CodecError(f"a string cannot contain {STRING_DELIM!r}; defang it first")
        return f"{STRING_DELIM}{value}{STRING_DELIM}"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodecError(f"{value!r} has no Gemma 4 rendering")
        return repr(value)
    if isinstance(value, Mapping):
        for key in value:
            _check_key(key)
        parts = [f"{key}:{render_value(value[key])}" for key in sorted(value)]
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(render_value(item) for item in value) + "]"
    raise CodecError(f"values of type {type(value).__name__} have no Gemma 4 rendering")


def _check_key(key: Any) -> None:
    if not isinstance(key, str) or not BARE_KEY.fullmatch(key):
        raise CodecError(f"object key {key!r} cannot be written bare (letters, digits, _ . - $ @)")


def render_tool_call(call: ToolCall) -> str:
    """`<|tool_call>call:NAME{...}<tool_call|>`, as the chat template renders an assistant tool call."""
    if not TOOL_NAME.fullmatch(call.name):
        raise CodecError(f"tool name {call.name!r} is not a valid identifier")
    return f"{CALL_OPEN}call:{call.name}{render_value(call.arguments)}{CALL_CLOSE}"


def render_tool_response(name: str, result: Any) -> str:
    """`<|tool_response>response:NAME{...}<tool_response|>` for a tool's result.

    The result is defanged first (see `defang`), so it never fails on text a tool returned. A result
    that is not a mapping is sent as `{value:...}`, as the chat template does.
    """
    safe = defang(result)
    body = render_value(safe) if isinstance(safe, Mapping) else "{value:" + render_value(safe) + "}"
    return f"{RESPONSE_OPEN}response:{name}{body}{RESPONSE_CLOSE}"


def defang(value: Any) -> Any:
    """A copy of `value` safe to put in a prompt: control-token look-alikes in strings get `\\|`.

    Keys that cannot be written bare are replaced by a bare-safe spelling; other leaves that the
    format cannot carry (non-finite floats, unknown types) become their `str()`.
    """
    if isinstance(value, str):
        return _CONTROL_TOKEN.sub(lambda m: m.group(0).replace("|", "\\|"), value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {_safe_key(k): defang(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [defang(item) for item in value]
    return defang(str(value))


def _safe_key(key: Any) -> str:
    text = str(key)
    if BARE_KEY.fullmatch(text):
        return text
    return re.sub(r"[^A-Za-z0-9_.\-$@]", "_", text) or "_"


# ----------------------------------------------------------------------------------------------- parse


class _Parser:
    """A recursive-descent reader over `text` starting at `pos`; errors carry the absolute position."""

    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.pos = pos

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def fail(self, message: str) -> CodecError:
        return CodecError(message, self.pos)

    def value(self, depth: int = 0) -> Any:
        if depth > 64:
            raise self.fail("nesting deeper than 64 levels")
        self.skip_space()
        text, pos = self.text, self.pos
        if pos >= len(text):
            raise self.fail("expected a value, found the end of the text")
        if text.startswith(STRING_DELIM, pos):
            return self.string()
        char = text[pos]
        if char == "{":
            return self.object(depth)
        if char == "[":
            return self.array(depth)
        for word, result in (("true", True), ("false", False), ("null", None),
                             ("True", True), ("False", False), ("None", None)):
            if text.startswith(word, pos) and not _continues_word(text, pos + len(word)):
                self.pos += len(word)
                return result
        match = _NUMBER.match(text, pos)
        if match and not _continues_word(text, match.end()):
            self.pos = match.end()
            literal = match.group(0)
            return int(literal) if literal.lstrip("-").isdigit() else float(literal)
        if char == '"':
            raise self.fail(f'strings are written {STRING_DELIM}text{STRING_DELIM}, not "text"')
        raise self.fail(f"unexpected {text[pos:pos + 12]!r}")

    def string(self) -> str:
        start = self.pos + len(STRING_DELIM)
        end = self.text.find(STRING_DELIM, start)
        if end < 0:
            raise self.fail(f"string opened here is never closed with {STRING_DELIM}")
        self.pos = end + len(STRING_DELIM)
        return self.text[start:end]

    def key(self) -> str:
        self.skip_space()
        if self.text.startswith(STRING_DELIM, self.pos):
            return self.string()
        match = BARE_KEY.match(self.text, self.pos)
        if not match:
            raise self.fail(f"expected a key, found {self.text[self.pos:self.pos + 12]!r}")
        self.pos = match.end()
        return match.group(0)

    def expect(self, char: str) -> None:
        self.skip_space()
        if not self.text.startswith(char, self.pos):
            found = self.text[self.pos:self.pos + 12] or "the end of the text"
            raise self.fail(f"expected {char!r}, found {found!r}")
        self.pos += len(char)

    def object(self, depth: int) -> dict[str, Any]:
        self.expect("{")
        result: dict[str, Any] = {}
        self.skip_space()
        if self.text.startswith("}", self.pos):
            self.pos += 1
            return result
        while True:
            key_pos = self.pos
            key = self.key()
            if key in result:
                raise CodecError(f"duplicate key {key!r}", key_pos)
            self.expect(":")
            result[key] = self.value(depth + 1)
            self.skip_space()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            self.expect("}")
            return result

    def array(self, depth: int) -> list[Any]:
        self.expect("[")
        result: list[Any] = []
        self.skip_space()
        if self.text.startswith("]", self.pos):
            self.pos += 1
            return result
        while True:
            result.append(self.value(depth + 1))
            self.skip_space()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                continue
            self.expect("]")
            return result


def _continues_word(text: str, pos: int) -> bool:
    return pos < len(text) and (text[pos].isalnum() or text[pos] in "_.")


def parse_value(text: str) -> Any:
    """The value `text` spells in Gemma 4 syntax (inverse of `render_value`).

    Raises CodecError with the position of the first problem; trailing text is an error.
    """
    parser = _Parser(text)
    value = parser.value()
    parser.skip_space()
    if parser.pos != len(text):
        raise parser.fail(f"unexpected text after the value: {text[parser.pos:parser.pos + 12]!r}")
    return value


def parse_model_output(text: str) -> ParsedTurn:
    """Split raw generated text (special tokens included) into thought, prose, calls and call errors.

    Never raises: a call that cannot be read becomes a CallError whose message tells the model what
    was wrong and where, and parsing goes on after it.
    """
    text = _strip_trailers(text)
    thoughts: list[str] = []
    prose: list[str] = []
    calls: list[ToolCall] = []
    errors: list[CallError] = []
    pos = 0
    while pos < len(text):
        next_thought = text.find(THOUGHT_OPEN, pos)
        next_call = text.find(CALL_OPEN, pos)
        starts = [i for i in (next_thought, next_call) if i >= 0]
        if not starts:
            prose.append(text[pos:])
            break
        start = min(starts)
        prose.append(text[pos:start])
        if start == next_thought:
            pos = _read_thought(text, start, thoughts)
        else:
            pos = _read_call(text, start, calls, errors)
    said = "".join(prose)
    # Stray response/turn markers between calls are structure, not speech.
    for marker in (RESPONSE_CLOSE, CALL_CLOSE, TURN_END, RESPONSE_OPEN):
        said = said.replace(marker, "")
    thought = "\n".join(t for t in thoughts) if thoughts else None
    return ParsedTurn(text=said.strip(), calls=calls, errors=errors, thought=thought)


def _strip_trailers(text: str) -> str:
    stripped = text.rstrip()
    changed = True
    while changed:
        changed = False
        for trailer in _TRAILERS:
            if stripped.endswith(trailer):
                stripped = stripped[: -len(trailer)].rstrip()
                changed = True
    return stripped


def _read_thought(text: str, start: int, thoughts: list[str]) -> int:
    body_start = start + len(THOUGHT_OPEN)
    end = text.find(THOUGHT_CLOSE, body_start)
    body = text[body_start:] if end < 0 else text[body_start:end]
    if body.startswith("thought"):
        body = body[len("thought"):]
    thoughts.append(body.strip("\n"))
    return len(text) if end < 0 else end + len(THOUGHT_CLOSE)


def _read_call(text: str, start: int, calls: list[ToolCall], errors: list[CallError]) -> int:
    parser = _Parser(text, start + len(CALL_OPEN))
    try:
        parser.skip_space()
        if not text.startswith("call:", parser.pos):
            raise parser.fail("a tool call starts with 'call:NAME{'")
        parser.pos += len("call:")
        name_match = TOOL_NAME.match(text, parser.pos)
        if not name_match:
            raise parser.fail("expected the tool's name after 'call:'")
        parser.pos = name_match.end()
        parser.skip_space()
        if not text.startswith("{", parser.pos):
            raise parser.fail(f"expected '{{' after the tool name {name_match.group(0)!r}")
        arguments = parser.value()
        parser.skip_space()
        if text.startswith(CALL_CLOSE, parser.pos):
            parser.pos += len(CALL_CLOSE)
        elif parser.pos < len(text) and not text.startswith(RESPONSE_OPEN, parser.pos):
            raise parser.fail(f"expected {CALL_CLOSE} after the arguments")
        calls.append(ToolCall(name=name_match.group(0), arguments=arguments))
        return parser.pos
    except CodecError as error:
        close = text.find(CALL_CLOSE, start)
        next_open = text.find(CALL_OPEN, start + len(CALL_OPEN))
        end = len(text) if close < 0 else close + len(CALL_CLOSE)
        if 0 <= next_open < end:
            end = next_open  # an unclosed call must not swallow the next one
        raw = text[start:end]
        where = "" if error.position is None else f" (character {error.position - start} of the call)"
        message = f"could not read the tool call: {error.reason}{where}"
        errors.append(CallError(raw=raw, message=message))
        return end
