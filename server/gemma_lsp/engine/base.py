"""The one engine interface every feature uses. Features never import transformers.

An engine turns a chat (Gemma 4 messages, optional tool declarations) into a stream of text. Model work
happens off the event loop; callers `async for` over `Engine.stream(...)` and cancel either by
cancelling their task or by setting the request's `CancelToken`; the engine stops within one decoding
step either way.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

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


class EngineError(Exception):
    """A request failed inside the engine; the message is meant for the user."""


class ModelUnavailable(EngineError):
    """The model cannot be used (weights missing, failed to load). `fix` tells the user what to do."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix


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


StopCheck = Callable[[str], int | None]
"""Given the text generated so far, return the index at which to cut it and stop, or None to go on."""


@dataclass
class GenerationRequest:
    messages: list[Message]
    max_new_tokens: int = 256
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
    finish_reason: str  # "stop" (end of turn / stop string / stop_check), "length", "tool_calls", "cancelled"
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


ProgressCallback = Callable[[str, int | None], None]
"""(message, percentage or None) — reported while loading."""


@runtime_checkable
class Engine(Protocol):
    info: EngineInfo

    async def start(self, progress: ProgressCallback | None = None) -> None:
        """Load the model (may take minutes). Raises ModelUnavailable with a fix for the user."""

    def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        """Yield text as it is verified. Raises Cancelled / EngineError."""

    async def generate(self, request: GenerationRequest) -> Completion:
        """Run a request to the end and return the whole text."""

    async def alternatives(self, request: GenerationRequest, n: int) -> list[Completion]:
        """Up to `n` different completions of `request`, most likely first. Item 0 is exactly what
        `generate(request)` returns (the greedy completion); the others are what the engine can offer
        cheaply (`greedy_only` offers none). A cancelled request gives `[Completion(..., "cancelled")]`."""

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


class SupersedeRegistry:
    """Cancels an in-flight request when a newer one with the same `supersede_key` arrives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, GenerationRequest] = {}

    def register(self, request: GenerationRequest) -> None:
        if not request.supersede_key:
            return
        with self._lock:
            older = self._active.get(request.supersede_key)
            self._active[request.supersede_key] = request
        if older is not None and older is not request:
            older.cancel.cancel("superseded by a newer request")

    def release(self, request: GenerationRequest) -> None:
        if not request.supersede_key:
            return
        with self._lock:
            if self._active.get(request.supersede_key) is request:
                del self._active[request.supersede_key]


async def supersedable(registry: SupersedeRegistry, request: GenerationRequest,
                       pieces: AsyncGenerator[str, None]) -> AsyncGenerator[str, None]:
    """Stream `pieces` while `request` is registered: a newer request with its key cancels it. The
    inner stream is closed at once when the caller stops (an HTTP response, a model job)."""
    registry.register(request)
    try:
        async with aclosing(pieces) as stream:
            async for piece in stream:
                yield piece
    finally:
        registry.release(request)
