"""The scripted engine: replays canned Gemma 4 format outputs instead of running a model.

Tests and demos use it (`gemma-lsp --script FILE.json`) to drive features deterministically. The
prompt still goes through the real chat template (the tiny fixture tokenizer), so `render` and
`count_tokens` are real; the canned text still goes through the real codec and post-processing.

Script file: a JSON object mapping a request purpose ("completion", "explain", "fix", "debug") to a
list of replies used in order; the last one repeats. A reply is a string, or `{"text": ..., "delay":
seconds per streamed chunk}` to stream slowly (tests cancel in the middle). A reply is the model's
text *after* the request's prefill, exactly what a real model would generate. An object reply may also
carry `"alternatives": [string, ...]`: what `alternatives(request, n)` offers after the reply itself
(the first n - 1 of them, each cut by the request's stops like the reply).

Like a real model the engine ends a turn at `<turn|>` or `<eos>`, and at `<|tool_response>` after a
tool call; it honours `stop`, `stop_check`, `max_new_tokens` (in the fixture tokenizer's tokens) and
cancellation (the token or the task) between chunks.

Every request is recorded in `calls` and appended as a JSON line to the call log
(`<script>.calls.jsonl` next to the script unless given) so an out-of-process test can check which
model calls a feature made.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gemma_lsp.engine.base import (
    Cancelled,
    Completion,
    EngineError,
    EngineInfo,
    GenerationRequest,
    GenerationStats,
    Message,
    ModelUnavailable,
    ProgressCallback,
    SupersedeRegistry,
    ToolSpec,
    supersedable,
)
from gemma_lsp.gemma4 import template, tokens

log = logging.getLogger(__name__)

# Where a model's turn ends. `<|tool_response>` is where the model stops after a tool call (the
# response is written by us, not by the model).
TURN_END_MARKERS = tokens.STOP_TOKENS
_SPECIAL = re.compile(r"(<\|[a-z_\"]+>|<[a-z_\"]+\|>|<\|[a-z_\"]+\|>|<eos>)")
CHUNK_CHARS = 6  # streamed piece size: about a token or two of code
_CANCEL_POLL_SECONDS = 0.01


@dataclass
class ScriptedReply:
    text: str
    delay: float = 0.0
    alternatives: tuple[str, ...] = ()  # raw texts offered after `text` by `alternatives()`


@dataclass
class ScriptedCall:
    """One request the engine answered (what a test inspects)."""

    purpose: str
    index: int  # which reply of the purpose's list was used
    prompt_tokens: int
    text: str
    finish_reason: str
    tools: list[str]
    thinking: bool
    priority: int
    prompt: str = ""  # the rendered prompt (prefill included): what a real model would have read


def load_script(path: Path) -> dict[str, list[ScriptedReply]]:
    """Read and validate a script file; raises ModelUnavailable with what is wrong and how to fix it."""
    fix = f"Fix the script file {path} (see docs/protocol.md, 'Running the server for tests and demos')."
    try:
        raw = json.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise ModelUnavailable(f"cannot read the script file {path}: {exc.strerror or exc}", fix) from exc
    except ValueError as exc:
        raise ModelUnavailable(f"the script file {path} is not valid JSON: {exc}", fix) from exc
    if not isinstance(raw, dict):
        raise ModelUnavailable(f"the script file {path} must hold a JSON object of purpose -> replies", fix)
    script: dict[str, list[ScriptedReply]] = {}
    for purpose, replies in raw.items():
        if isinstance(replies, str | dict):
            replies = [replies]
        if not isinstance(replies, list) or not replies:
            raise ModelUnavailable(f"script {path}: '{purpose}' must be a non-empty list of replies", fix)
        script[purpose] = [_reply(path, purpose, i, r, fix) for i, r in enumerate(replies)]
    return script


def _reply(path: Path, purpose: str, index: int, value: Any, fix: str) -> ScriptedReply:
    if isinstance(value, str):
        return ScriptedReply(value)
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        delay = value.get("delay", 0.0)
        alternatives = value.get("alternatives", [])
        if (isinstance(delay, int | float) and not isinstance(delay, bool) and 0 <= delay <= 60
                and isinstance(alternatives, list) and all(isinstance(a, str) for a in alternatives)
                and not set(value) - {"text", "delay", "alternatives"}):
            return ScriptedReply(value["text"], float(delay), tuple(alternatives))
    raise ModelUnavailable(
        f"script {path}: reply {index} of '{purpose}' must be a string or "
        '{"text": string, "delay": seconds (0..60), "alternatives": [string, ...]}', fix)


@dataclass
class _Outcome:
    finish: str = "stop"
    prompt_tokens: int = 0
    alternatives: tuple[str, ...] = ()  # the reply's own alternatives (raw)


def _held_back(generated: str, stops: Sequence[str]) -> int:
    """Length of the longest suffix of `generated` that could be the start of a stop string."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(generated)), longest, -1):
            if generated.endswith(stop[:n]):
                longest = n
                break
    return longest


def split_chunks(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """Split text into streamed pieces; special tokens stay whole, as a tokenizer would emit them."""
    chunks: list[str] = []
    for part in _SPECIAL.split(text):
        if not part:
            continue
        if _SPECIAL.fullmatch(part):
            chunks.append(part)
        else:
            chunks.extend(part[i:i + size] for i in range(0, len(part), size))
    return chunks


def end_of_turn(text: str) -> int | None:
    """Index where the model's turn ends in `text` (a turn-end marker), or None."""
    hits = [i for i in (text.find(m) for m in TURN_END_MARKERS) if i >= 0]
    return min(hits) if hits else None


class ScriptedEngine:
    """An Engine that answers from a script file (see the module docstring)."""

    def __init__(self, script_path: Path | None = None, *, script: dict[str, Any] | None = None,
                 log_path: Path | None = None, variant: str = template.E_VARIANT) -> None:
        """Give a script file, or (for unit tests) a `script` dict of the same shape. `variant` is the
        chat template the prompts go through (the E2B/E4B one, or the 26B/31B one)."""
        self.script_path = Path(script_path) if script_path else None
        self._raw_script = script
        self._supersede = SupersedeRegistry()
        self._script: dict[str, list[ScriptedReply]] = {}
        if log_path is None and self.script_path is not None:
            log_path = self.script_path.with_name(self.script_path.stem + ".calls.jsonl")
        self.log_path = log_path
        self.calls: list[ScriptedCall] = []
        self._next: dict[str, int] = {}
        self._lock = threading.Lock()
        self.info = EngineInfo(name="scripted", model=str(script_path or "inline script"), device="cpu",
                               drafter=None, placeholder=False)
        self._tokenizer: Any = None
        self.variant = variant
        if script is not None:
            self._script = {p: [_reply(Path("<inline>"), p, i, r, "")
                                for i, r in enumerate(rs if isinstance(rs, list) else [rs])]
                            for p, rs in script.items()}

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:
            from gemma_lsp.models.tiny import build_tokenizer

            self._tokenizer = build_tokenizer(self.variant)
        return self._tokenizer

    async def start(self, progress: ProgressCallback | None = None) -> None:
        """Load the script and the fixture tokenizer. Raises ModelUnavailable for a bad script."""
        if progress:
            progress("loading the script", None)
        if self.script_path is not None:
            self._script = load_script(self.script_path)
        await asyncio.to_thread(lambda: self.tokenizer)
        log.warning("scripted engine: model replies come from %s, not from a model",
                    self.script_path or "an inline script")

    def render(self, messages: list[Message], tools: Sequence[ToolSpec] | None = None,
               thinking: bool = False) -> str:
        """The prompt the model would see, through Gemma 4's chat template."""
        return template.render_with(self.tokenizer, messages, tools, thinking)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def calls_for(self, purpose: str) -> list[ScriptedCall]:
        return [c for c in self.calls if c.purpose == purpose]

    def _take_reply(self, purpose: str) -> tuple[int, ScriptedReply]:
        with self._lock:
            replies = self._script.get(purpose)
            if not replies:
                # An unscripted purpose answers with an empty turn: the feature sees "no output".
                return -1, ScriptedReply("")
            index = self._next.get(purpose, 0)
            self._next[purpose] = index + 1
            return min(index, len(replies) - 1), replies[min(index, len(replies) - 1)]

    def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        """Yield the canned reply in chunks, cut exactly where a real engine would stop."""
        return self._stream(request, _Outcome())

    def _stream(self, request: GenerationRequest, outcome: _Outcome) -> AsyncGenerator[str, None]:
        """Like every engine, a newer request with the same `supersede_key` cancels this one."""
        return supersedable(self._supersede, request, self._stream_unsuperseded(request, outcome))

    async def _stream_unsuperseded(self, request: GenerationRequest, outcome: _Outcome) -> AsyncGenerator[str, None]:
        prompt = self.render(request.messages, request.tools, request.thinking) + request.prefill
        prompt_tokens = self.count_tokens(prompt)
        index, reply = self._take_reply(request.purpose)
        outcome.alternatives = reply.alternatives
        started = time.monotonic()
        sent = ""
        try:
            async for piece in self._pieces(reply, request, outcome):
                sent += piece
                yield piece
        except (Cancelled, asyncio.CancelledError):
            outcome.finish = "cancelled"
            self._record(request, index, prompt, prompt_tokens, sent, outcome.finish, started)
            raise
        outcome.prompt_tokens = prompt_tokens
        self._record(request, index, prompt, prompt_tokens, sent, outcome.finish, started)

    async def _pieces(self, reply: ScriptedReply, request: GenerationRequest,
                      outcome: _Outcome) -> AsyncIterator[str]:
        """The text to emit, chunk by chunk; holds back text that may be the start of a stop string."""
        generated = ""
        emitted = 0
        for chunk in split_chunks(reply.text):
            await self._wait(reply.delay, request)
            generated += chunk
            cut, reason = self._cut(generated, request)
            if cut is not None:
                outcome.finish = reason
                if generated[emitted:cut]:
                    yield generated[emitted:cut]
                return
            safe = len(generated) - _held_back(generated, request.stop)
            if safe > emitted:
                yield generated[emitted:safe]
                emitted = safe
        # The script ran out without an end marker: the turn ends there, as at `<turn|>`.
        outcome.finish = "stop"
        if generated[emitted:]:
            yield generated[emitted:]

    async def _wait(self, delay: float, request: GenerationRequest) -> None:
        """Sleep `delay` (or just yield control), raising Cancelled as soon as the token is set."""
        deadline = time.monotonic() + delay
        while True:
            if request.cancel.cancelled:
                raise Cancelled(request.cancel.reason or "cancelled")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await asyncio.sleep(0)
                return
            await asyncio.sleep(min(remaining, _CANCEL_POLL_SECONDS))

    def _cut(self, generated: str, request: GenerationRequest) -> tuple[int | None, str]:
        """Where the generated text must end now, and why (None: keep going)."""
        cuts: list[tuple[int, str]] = []
        turn_end = end_of_turn(generated)
        if turn_end is not None:
            calls = tokens.CALL_CLOSE in generated[:turn_end]
            cuts.append((turn_end, "tool_calls" if calls else "stop"))
        for stop in request.stop:
            at = generated.find(stop) if stop else -1
            if at >= 0:
                cuts.append((at, "stop"))
        if request.stop_check is not None:
            checked = request.stop_check(generated)
            if checked is not None:
                cuts.append((max(0, min(checked, len(generated))), "stop"))
        limit = self._token_limit(generated, request.max_new_tokens)
        if limit is not None:
            cuts.append((limit, "length"))
        return min(cuts) if cuts else (None, "")

    def _token_limit(self, text: str, max_new_tokens: int) -> int | None:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        if len(ids) <= max_new_tokens:
            return None
        return len(self.tokenizer.decode(ids[:max(0, max_new_tokens)]))

    def _record(self, request: GenerationRequest, index: int, prompt: str, prompt_tokens: int, text: str,
                finish: str, started: float) -> None:
        call = ScriptedCall(
            purpose=request.purpose, index=index, prompt_tokens=prompt_tokens, text=text,
            finish_reason=finish,
            tools=[t.get("function", t).get("name", "") for t in (request.tools or [])],
            thinking=request.thinking, priority=int(request.priority), prompt=prompt)
        self.calls.append(call)
        if self.log_path is not None:
            try:
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(asdict(call)) + "\n")
            except OSError as exc:  # the log is a test aid; never fail a request over it
                log.warning("scripted engine: cannot write the call log %s: %s", self.log_path, exc)
        log.info("scripted %s reply %d: %d chars (%s) in %.3fs", request.purpose or "?", index, len(text),
                 finish, time.monotonic() - started)

    async def generate(self, request: GenerationRequest) -> Completion:
        """Run the request to the end; returns the text after the prefill and why it stopped."""
        started = time.monotonic()
        outcome = _Outcome()
        parts = [piece async for piece in self._stream(request, outcome)]
        text = "".join(parts)
        stats = GenerationStats(prompt_tokens=outcome.prompt_tokens, new_tokens=self.count_tokens(text),
                                seconds=time.monotonic() - started)
        return Completion(text=text, finish_reason=outcome.finish, stats=stats)

    async def alternatives(self, request: GenerationRequest, n: int) -> list[Completion]:
        """The reply as `generate` gives it, then its scripted `alternatives` (up to n - 1 of them),
        each cut where the request's stops, end of turn and token limit cut a reply."""
        started = time.monotonic()
        outcome = _Outcome()
        text = "".join([piece async for piece in self._stream(request, outcome)])
        stats = GenerationStats(prompt_tokens=outcome.prompt_tokens, new_tokens=self.count_tokens(text),
                                seconds=time.monotonic() - started)
        completions = [Completion(text=text, finish_reason=outcome.finish, stats=stats)]
        for raw in outcome.alternatives[: max(0, n - 1)]:
            cut = _Outcome()
            alternative = "".join([piece async for piece in self._pieces(ScriptedReply(raw), request, cut)])
            completions.append(Completion(text=alternative, finish_reason=cut.finish,
                                          stats=GenerationStats(new_tokens=self.count_tokens(alternative))))
        return completions

    async def close(self) -> None:
        return None


__all__ = ["ScriptedEngine", "ScriptedCall", "ScriptedReply", "load_script", "EngineError"]
