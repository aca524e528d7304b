"""Gemma 4's native function-calling format: render values, calls and responses; parse model output.

The value syntax (what sits between the braces of `call:NAME{...}`):

    value  := string | number | true | false | null | object | array
    string := <|"|> any text not containing <|"|> <|"|>
    object := { [key : value (, key : value)*] }     keys are bare
    array  := [ [value (, value)*] ]

Rendering is byte-identical to the chat template's value rendering (`chat_template.jinja`, and Google's
canonical template): object keys in jinja `dictsort` order, which ignores case; numbers as Python prints
them. A history rendered by a tokenizer's chat template and text rendered here agree token for token.

Parsing is tolerant where real Gemma 4 checkpoints are known to slip and the reading is still
certain, accepting what vLLM's and Ollama's Gemma 4 parsers accept:
- a bare unquoted string value, `path:src/app.py`, read up to the next `,` or closing bracket;
- a JSON-quoted string, `"src/app.py"` (JSON escapes honoured), as a value or a key;
- a trailing comma, `{a:1,}` or `[1,2,]`;
- in model output, an unterminated `<|"|>` string at the end of the output (the model stopped inside
  it): the string runs to the end, and the brackets still open are closed.
It refuses what has more than one reading: a bare value holding brackets, quotes or control tokens, an
empty bare value, a comma followed by text that is not `key:` (is `{msg:a, b}` one string or two
keys?), an unterminated string followed by more structure, duplicate keys, and text after the value.

A string cannot contain the delimiter `<|"|>` itself: there is no escape in the format. `render_value`
refuses such a string (CodecError); `render_tool_response` and `defang` are for untrusted text (file
contents, test output) and rewrite every Gemma control-token look-alike (`<|"|>`, `<|tool_call>`,
`<turn|>`, ...) by putting a backslash before its `|` characters, so text a tool returns can never
close a string, forge a tool call or end the model's turn.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gemma_lsp.gemma4.tokens import (
    CALL_CLOSE,
    CALL_OPEN,
    CHANNEL_CLOSE,
    CHANNEL_OPEN,
    EOS,
    RESPONSE_CLOSE,
    RESPONSE_OPEN,
    STRING_DELIM,
    TURN_CLOSE,
)

# Names kept for the modules that imported them from the codec.
THOUGHT_OPEN, THOUGHT_CLOSE, TURN_END = CHANNEL_OPEN, CHANNEL_CLOSE, TURN_CLOSE

# Keys written bare. The parser also takes <|"|>-quoted and JSON-quoted keys.
BARE_KEY = re.compile(r"[A-Za-z0-9_$@][A-Za-z0-9_.\-$@]*")
TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# Gemma 4 control tokens look like <|name>, <name|> or <|name|> (name includes the `"` of <|"|>).
_CONTROL_TOKEN = re.compile(r'<\|[A-Za-z_"]{1,24}\|?>|<[A-Za-z_"]{1,24}\|>')
# Text after which a generation is over; removed from the end of model output before parsing.
_TRAILERS = (RESPONSE_OPEN, TURN_CLOSE, EOS)
# Characters that make a bare (unquoted) value ambiguous: it may be a broken string, object or array.
_NOT_BARE = ('{', '[', '"', "<|", "|>")
_JSON_STRING = json.JSONDecoder()


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


def dictsort_keys(mapping: Mapping[Any, Any]) -> list[Any]:
    """The keys in jinja `dictsort` order: case-insensitive, ties kept in insertion order."""
    return sorted(mapping, key=lambda key: key.lower() if isinstance(key, str) else key)


def render_value(value: Any) -> str:
    """Render a JSON-like value in Gemma 4 syntax, exactly as the chat template renders arguments.

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
        parts = [f"{key}:{render_value(value[key])}" for key in dictsort_keys(value)]
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
    """`<|tool_response>response:NAME{...}<tool_response|>` for a tool's result, as the template
    renders it: a mapping's items bare, anything else (the string content of a `tool` message) as
    `{value:...}`. The result is defanged first (see `defang`), so it never fails on tool output.
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
    """A recursive-descent reader over `text` starting at `pos`; errors carry the absolute position.

    `open_end` is where the model output ends (None: a lone value, where an unterminated string is an
    error). After an unterminated string has run to `open_end`, the brackets still open close there.
    """

    def __init__(self, text: str, pos: int = 0, open_end: int | None = None) -> None:
        self.text = text
        self.pos = pos
        self.open_end = open_end
        self.closers: list[str] = []  # the brackets open now, innermost last
        self.cut_short = False  # an unterminated string ran to the end: the closing brackets are implied
        self.implied_end = 0  # where it stopped (the end of the output, or its `<tool_call|>`)

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
        if char == '"':
            return self.json_string()
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
        return self.bare_string()

    def string(self) -> str:
        start = self.pos + len(STRING_DELIM)
        end = self.text.find(STRING_DELIM, start)
        if end >= 0:
            self.pos = end + len(STRING_DELIM)
            return self.text[start:end]
        if self.open_end is None:
            raise self.fail(f"string opened here is never closed with {STRING_DELIM}")
        return self.unterminated_string(start, self.open_end)

    def unterminated_string(self, start: int, output_end: int) -> str:
        """The model stopped inside a string: it runs to the end of the output (or `<tool_call|>`),
        less the closing brackets the model did write after it."""
        close = self.text.find(CALL_CLOSE, start, output_end)
        end = output_end if close < 0 else close
        body = self.text[start:end]
        if CALL_OPEN in body or (close >= 0 and self.text[close + len(CALL_CLOSE):output_end].strip()):
            raise self.fail(f"string opened here is never closed with {STRING_DELIM}")
        for closer in reversed(self.closers):  # innermost first: `...a.py}` closes the arguments
            trimmed = body.rstrip()
            if not trimmed.endswith(closer):
                break
            body = trimmed[:-1]
        self.pos, self.cut_short, self.implied_end = end, True, end
        return body

    def json_string(self) -> str:
        try:
            value, end = _JSON_STRING.raw_decode(self.text, self.pos)
        except ValueError:
            raise self.fail("a JSON-quoted string here is not closed or has a bad escape") from None
        self.pos = end
        return str(value)

    def bare_string(self) -> str:
        """An unquoted string value: the text up to the next `,` or the closing bracket, trimmed."""
        closer = self.closers[-1] if self.closers else "}"
        end = self.pos
        while end < len(self.text) and self.text[end] not in (",", closer):
            end += 1
        raw = self.text[self.pos:end]
        value = raw.strip()
        if not value:
            raise self.fail("expected a value")
        if any(mark in value for mark in _NOT_BARE):
            raise self.fail(f"unexpected {raw.strip()[:12]!r}: write strings as {STRING_DELIM}text{STRING_DELIM}")
        self.pos = self.pos + len(raw.rstrip())
        return value

    def key(self) -> str:
        self.skip_space()
        if self.text.startswith(STRING_DELIM, self.pos):
            end = self.text.find(STRING_DELIM, self.pos + len(STRING_DELIM))
            if end < 0:
                raise self.fail(f"key opened here is never closed with {STRING_DELIM}")
            key = self.text[self.pos + len(STRING_DELIM):end]
            self.pos = end + len(STRING_DELIM)
            return key
        if self.text.startswith('"', self.pos):
            return self.json_string()
        match = BARE_KEY.match(self.text, self.pos)
        if not match:
            raise self.fail(f"expected a key, found {self.text[self.pos:self.pos + 12]!r}")
        self.pos = match.end()
        return match.group(0)

    def at_implied_end(self) -> bool:
        return self.cut_short and self.pos >= self.implied_end

    def expect(self, char: str) -> None:
        self.skip_space()
        if self.at_implied_end():
            return
        if not self.text.startswith(char, self.pos):
            found = self.text[self.pos:self.pos + 12] or "the end of the text"
            raise self.fail(f"expected {char!r}, found {found!r}")
        self.pos += len(char)

    def object(self, depth: int) -> dict[str, Any]:
        self.expect("{")
        self.closers.append("}")
        result: dict[str, Any] = {}
        while True:
            self.skip_space()
            if self.text.startswith("}", self.pos) or self.at_implied_end():
                break  # also after a trailing comma
            key_pos = self.pos
            key = self.key()
            if key in result:
                raise CodecError(f"duplicate key {key!r}", key_pos)
            self.expect(":")
            result[key] = self.value(depth + 1)
            self.skip_space()
            if not self.text.startswith(",", self.pos):
                break
            self.pos += 1
        self.closers.pop()
        self.expect("}")
        return result

    def array(self, depth: int) -> list[Any]:
        self.expect("[")
        self.closers.append("]")
        result: list[Any] = []
        while True:
            self.skip_space()
            if self.text.startswith("]", self.pos) or self.at_implied_end():
                break  # also after a trailing comma
            result.append(self.value(depth + 1))
            self.skip_space()
            if not self.text.startswith(",", self.pos):
                break
            self.pos += 1
        self.closers.pop()
        self.expect("]")
        return result


def _continues_word(text: str, pos: int) -> bool:
    return pos < len(text) and (text[pos].isalnum() or text[pos] in "_.")


def parse_value(text: str) -> Any:
    """The value `text` spells in Gemma 4 syntax (inverse of `render_value`, tolerant as the module
    docstring says; an unterminated string is an error here).

    Raises CodecError with the position of the first problem; trailing text is an error.
    """
    parser = _Parser(text)
    value = parser.value()
    parser.skip_space()
    if parser.pos != len(text):
        raise parser.fail(f"unexpected text after the value: {text[parser.pos:parser.pos + 12]!r}")
    return value


def parse_model_output(text: str, in_thought: bool = False) -> ParsedTurn:
    """Split raw generated text (special tokens included) into thought, prose, calls and call errors.

    `in_thought`: the prompt ended inside an open thought channel (with thinking on, the template opens
    one after tool results), so the output starts mid-thought. A `<channel|>` before any `<|channel>`
    means the same, so the flag is only needed when the model never closed its thought.

    Never raises: a call that cannot be read becomes a CallError whose message tells the model what
    was wrong and where, and parsing goes on after it.
    """
    text = _strip_trailers(text)
    thoughts: list[str] = []
    pos = 0
    first_close = text.find(CHANNEL_CLOSE)
    earlier = [i for i in (text.find(CHANNEL_OPEN), text.find(CALL_OPEN)) if i >= 0]
    # A reply that opens its own thought (a remote server's reasoning, wrapped back) starts fresh.
    in_thought = in_thought and not text.lstrip().startswith(CHANNEL_OPEN)
    if in_thought or (first_close >= 0 and all(first_close < i for i in earlier)):
        end = len(text) if first_close < 0 else first_close
        thoughts.append(text[:end].strip("\n"))
        pos = len(text) if first_close < 0 else first_close + len(CHANNEL_CLOSE)
    prose: list[str] = []
    calls: list[ToolCall] = []
    errors: list[CallError] = []
    while pos < len(text):
        next_thought = text.find(CHANNEL_OPEN, pos)
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
    for marker in (RESPONSE_CLOSE, CALL_CLOSE, TURN_CLOSE, RESPONSE_OPEN, CHANNEL_CLOSE):
        said = said.replace(marker, "")
    thought = "\n".join(thoughts) if thoughts else None
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
    body_start = start + len(CHANNEL_OPEN)
    end = text.find(CHANNEL_CLOSE, body_start)
    body = text[body_start:] if end < 0 else text[body_start:end]
    if body.startswith("thought"):
        body = body[len("thought"):]
    thoughts.append(body.strip("\n"))
    return len(text) if end < 0 else end + len(CHANNEL_CLOSE)


def _read_call(text: str, start: int, calls: list[ToolCall], errors: list[CallError]) -> int:
    parser = _Parser(text, start + len(CALL_OPEN), open_end=len(text))
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
