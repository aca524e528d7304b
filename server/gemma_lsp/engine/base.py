"""The one engine interface every feature uses. Features never import transformers.

An engine turns a chat (Gemma 4 messages, optional tool declarations) into a stream of text. Model work
happens off the event loop; callers `async for` over `Engine.stream(...)` or await `Engine.generate(...)`.

The contract every engine keeps (`BaseEngine` implements the shared parts once):
- Output: the text after the request's prefill, shaped by `engine/output.py` (stop strings never
  returned, `stop_check` applied, nothing released that a later stop would take back).
- Cancel rule: a request is cancelled by setting its `CancelToken` (the caller, or a newer request with
  the same `supersede_key`, which cancels it with reason "superseded"). Once the engine sees the token,
  `stream()` and `generate()` both raise `Cancelled(reason)`; the model stops within one decoding step.
  Text streamed before that stays with the caller; `generate()` returns no partial text, and a
  `Completion.finish_reason` is never "cancelled". A generation that ended (stop, length) before the
  engine saw the token returns normally. Cancelling the caller's task raises `asyncio.CancelledError`
  as usual, and stops the model the same way; so does a caller that stops reading a stream.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from gemma_lsp.gemma4 import template, tokens
from gemma_lsp.models.errors import EngineError, ProgressCallback
from gemma_lsp.models.errors import ModelUnavailable as ModelUnavailable

Message = dict[str, Any]
"""A chat message in the Hugging Face / OpenAI form: {"role": "system"|"user"|"assistant"|"tool",
"content": ...}; assistant messages may carry "tool_calls" (with ids) and "reasoning", tool messages
carry "tool_call_id", "name" and string content. `gemma_lsp.gemma4.messages` builds them."""

ToolSpec = dict[str, Any]
"""An OpenAI-style tool declaration: {"type": "function", "function": {"name", "description", "parameters"}}."""


class Priority(enum.IntEnum):
    """Lower runs first. Inline completions must never wait behind a debug session."""

    INTERACTIVE = 0  # inline completion: the user is waiting with the cursor
    FOREGROUND = 1  # a code action the user chose (explain / fix)
    BACKGROUND = 2  # long agent sessions (ask to debug)


class Cancelled(EngineError):
    """The request was cancelled (by the client, or superseded by a newer one)."""


class CancelToken:
    """A thread-safe flag checked by the decoding loop once per step."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


DEFAULT_MAX_NEW_TOKENS = 256  # a request that does not say how long its reply may be

StopCheck = Callable[[str], int | None]
"""Given the reply so far (what is certain to reach the caller: engine/output.py), return the index at
which to cut it and stop, or None to go on. It may be called on the worker thread."""


@dataclass
class GenerationRequest:
    messages: list[Message]
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    tools: Sequence[ToolSpec] | None = None
    thinking: bool = False
    priority: Priority = Priority.FOREGROUND
    # What the request is for: "completion", "explain", "fix", "debug" (logs, and the scripted engine
    # picks its canned replies by it).
    purpose: str = ""
    # Requests with the same key supersede each other: a newer one cancels the older one.
    # Inline completion uses "completion:<uri>".
    supersede_key: str | None = None
    # Text the model's reply should start with (put after the generation prompt, e.g. an open fence).
    prefill: str = ""
    # Stop as soon as one of these strings appears (the string itself is not returned).
    stop: Sequence[str] = ()
    # A feature-specific early stop (end of line for a single-line completion, end of block...).
    stop_check: StopCheck | None = None
    cancel: CancelToken = field(default_factory=CancelToken)


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    reused_prompt_tokens: int = 0
    new_tokens: int = 0
    target_steps: int = 0
    drafted_tokens: int = 0
    accepted_tokens: int = 0
    seconds: float = 0.0
    first_token_seconds: float = 0.0
    finish_reason: str = ""

    @property
    def acceptance_rate(self) -> float:
        return self.accepted_tokens / self.drafted_tokens if self.drafted_tokens else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds else 0.0


@dataclass
class Completion:
    text: str
    finish_reason: str  # "stop" (end of turn / stop string / stop_check), "length", "tool_calls"
    stats: GenerationStats = field(default_factory=GenerationStats)
    # For an alternative from `Engine.alternatives`: the index of the generated token where it leaves
    # the greedy completion (its tokens before that are the greedy one's). None: the greedy completion.
    branched_at: int | None = None


@dataclass
class EngineInfo:
    name: str  # "local", "remote", "scripted"
    model: str  # preset or path or served model id
    device: str = "cpu"
    dtype: str = ""
    drafter: str | None = None
    placeholder: bool = False  # True for the tiny random model: its output is gibberish


@runtime_checkable
class Engine(Protocol):
    info: EngineInfo

    async def start(self, progress: ProgressCallback | None = None) -> None:
        """Load the model (may take minutes). Raises ModelUnavailable with a fix for the user."""

    def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        """Yield text as it is verified. Raises Cancelled (see the cancel rule above) / EngineError."""

    async def generate(self, request: GenerationRequest) -> Completion:
        """Run a request to the end and return the whole text. Raises Cancelled like `stream()`."""

    async def alternatives(self, request: GenerationRequest, n: int) -> list[Completion]:
        """Up to `n` different completions of `request`, most likely first. Item 0 is exactly what
        `generate(request)` returns (the greedy completion); the others are what the engine can offer
        cheaply (`greedy_only` offers none). Raises Cancelled like `generate()`."""

    def count_tokens(self, text: str) -> int:
        """Number of tokens `text` takes with this model's tokenizer."""

    def render(self, messages: list[Message], tools: Sequence[ToolSpec] | None = None,
               thinking: bool = False) -> str:
        """The prompt text the model would see for these messages (with the generation prompt)."""

    async def close(self) -> None:
        """Stop the worker and free the model."""


async def greedy_only(engine: Engine, request: GenerationRequest, n: int) -> list[Completion]:
    """The `alternatives` of an engine that cannot branch cheaply: just the greedy completion."""
    return [await engine.generate(request)]


class Cancellable(Protocol):
    def cancel(self, reason: str = "cancelled") -> None: ...


class SupersedeRegistry:
    """The one supersession rule: registering work under a key cancels (reason "superseded") the work
    still registered under it. Engines register each request's CancelToken under its `supersede_key`
    (BaseEngine); the scheduler, usable without an engine, registers its jobs' handles."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, Cancellable] = {}

    def register(self, key: str | None, work: Cancellable) -> None:
        if not key:
            return
        with self._lock:
            older = self._active.get(key)
            self._active[key] = work
        if older is not None and older is not work:
            older.cancel("superseded")

    def release(self, key: str | None, work: Cancellable) -> None:
        """`work` ended: forget it, unless a newer one holds the key already."""
        if not key:
            return
        with self._lock:
            if self._active.get(key) is work:
                del self._active[key]


@dataclass
class Outcome:
    """How one generation ended, filled in by the engine while it streams."""

    finish_reason: str = "stop"
    stats: GenerationStats = field(default_factory=GenerationStats)


class BaseEngine:
    """What every engine shares: `render`, `count_tokens`, `stream` and `generate` with supersession
    and the cancel rule. An engine implements `_produce`, and sets `tokenizer` (None: prompts go through
    gemma-lsp's own template in `template_variant`, and token counts are estimates)."""

    info: EngineInfo
    tokenizer: Any = None
    template_variant: str = template.E_VARIANT

    def __init__(self) -> None:
        self._supersede = SupersedeRegistry()

    def _produce(self, request: GenerationRequest, outcome: Outcome) -> AsyncGenerator[str, None]:
        """The shaped text of one generation, piece by piece; sets `outcome`. Raises Cancelled as soon
        as it sees `request.cancel` set."""
        raise NotImplementedError

    def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        return self._supervised(request, Outcome())

    async def generate(self, request: GenerationRequest) -> Completion:
        outcome = Outcome()
        async with aclosing(self._supervised(request, outcome)) as pieces:
            text = "".join([piece async for piece in pieces])
        return Completion(text=text, finish_reason=outcome.finish_reason, stats=outcome.stats)

    async def _supervised(self, request: GenerationRequest, outcome: Outcome) -> AsyncGenerator[str, None]:
        """`_produce` while `request` is registered for supersession; the cancel rule made uniform."""
        self._supersede.register(request.supersede_key, request.cancel)
        try:
            # aclosing: a caller that stops early stops the model now, not at garbage collection.
            async with aclosing(self._produce(request, outcome)) as pieces:
                async for piece in pieces:
                    yield piece
        finally:
            self._supersede.release(request.supersede_key, request.cancel)
        if outcome.finish_reason == "cancelled":
            raise Cancelled(request.cancel.reason or "cancelled")
        outcome.stats.finish_reason = outcome.finish_reason

    def render(self, messages: list[Message], tools: Sequence[ToolSpec] | None = None,
               thinking: bool = False) -> str:
        """The prompt text: the tokenizer's chat template, else gemma-lsp's Gemma 4 template."""
        if self.tokenizer is not None:
            return template.render_with(self.tokenizer, messages, tools, thinking)
        return template.render(messages, tools, thinking=thinking, variant=self.template_variant)

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes: exact with a tokenizer, else an estimate (gemma4.tokens.estimate_tokens)."""
        if self.tokenizer is not None:
            return len(self.tokenizer.encode(text, add_special_tokens=False))
        return tokens.estimate_tokens(text)
