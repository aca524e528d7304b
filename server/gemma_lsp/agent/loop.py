"""The tool loop: model turn → parse its tool calls → run the tools → send the results → next turn.

It ends when the model answers without calling a tool, or at a limit (tool calls, generated tokens,
wall-clock seconds), or when cancelled. At a limit the session still ends with the best answer so far:
after the tool-call budget is spent the model gets one last turn to answer from what it has seen; when
tokens or time run out, the last thing it said is the answer. `LoopResult.stop_reason` says which.

Cancellation is end to end: the one `CancelToken` goes to every engine request and every tool run (the
executor kills the sandboxed process when it is set); cancelling the task that awaits `run` sets it too.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gemma_lsp.agent import prompts
from gemma_lsp.config import DebugSettings
from gemma_lsp.engine.base import (
    Cancelled,
    CancelToken,
    Engine,
    EngineError,
    GenerationRequest,
    Message,
    Priority,
    ToolSpec,
)
from gemma_lsp.gemma4 import messages as shapes
from gemma_lsp.gemma4.codec import ParsedTurn, ToolCall, parse_model_output
from gemma_lsp.gemma4.template import generation_opens_thought
from gemma_lsp.toolbox.executor import describe_call

log = logging.getLogger(__name__)

TURN_TOKENS = 1024  # most tokens one model turn may generate (the session budget caps it further)
MIN_TURN_TOKENS = 16  # below this a turn cannot say anything useful: the token budget counts as spent

# Why a session ended.
ANSWERED = "answered"
MAX_TOOL_CALLS = "max_tool_calls"
MAX_TOKENS = "max_tokens"
MAX_SECONDS = "max_seconds"
CANCELLED = "cancelled"
ERROR = "error"

LIMIT_NAMES = {MAX_TOOL_CALLS: "tool calls", MAX_TOKENS: "generated tokens", MAX_SECONDS: "time"}


class LinkedToken(CancelToken):
    """A token for one request that is also cancelled when its session's token is.

    Every engine request and tool run gets its own: an engine may cancel the token of a request it has
    finished (to stop its worker), which must not end the whole session.
    """

    def __init__(self, parent: CancelToken) -> None:
        super().__init__()
        self.parent = parent

    @property
    def cancelled(self) -> bool:
        return super().cancelled or self.parent.cancelled

    def cause(self) -> str:
        return self.parent.reason if self.parent.cancelled else self.reason


class Executor(Protocol):
    """What the loop needs of `gemma_lsp.toolbox.ToolExecutor` (sync or async `execute`)."""

    def execute(self, call: ToolCall, cancel: CancelToken) -> Any: ...


_DEBUG_DEFAULTS = DebugSettings()


@dataclass
class Limits:
    """One session's budget; the defaults are the `debug.*` settings' (written once, in config.py)."""

    max_tool_calls: int = _DEBUG_DEFAULTS.max_tool_calls
    max_tokens: int = _DEBUG_DEFAULTS.max_tokens
    max_seconds: float = _DEBUG_DEFAULTS.max_seconds

    @classmethod
    def from_settings(cls, debug: DebugSettings) -> Limits:
        return cls(debug.max_tool_calls, debug.max_tokens, debug.max_seconds)


@dataclass
class Step:
    """One thing the session does, reported as work-done progress."""

    kind: str  # "model" | "tool"
    message: str  # "asking the model…", "running tests…", "reading src/app.py:40-80"
    tool_calls: int  # tool calls made so far (including this one)
    tokens: int  # tokens generated so far


@dataclass
class ToolRun:
    """A tool call and its outcome, for the transcript."""

    name: str
    arguments: dict[str, Any]
    ok: bool
    summary: str
    content: Any


@dataclass
class LoopResult:
    answer: str
    stop_reason: str
    messages: list[Message]
    thoughts: list[str] = field(default_factory=list)
    tools: list[ToolRun] = field(default_factory=list)
    tool_calls: int = 0
    tokens: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def limit_hit(self) -> str | None:
        """The limit that ended the session, in words ("tool calls", "time"...), or None."""
        return LIMIT_NAMES.get(self.stop_reason)


def default_describe(call: ToolCall) -> str:
    """Progress text for a call when the caller has no catalog: the toolbox's one wording ("running
    NAME…"); the tools' own text comes with the catalog (features/debug.py: the catalog's `progress`)."""
    return describe_call(call)


class ToolLoop:
    """Runs one session (see the module docstring). Create one per session."""

    def __init__(self, engine: Engine, executor: Executor, tools: Sequence[ToolSpec], limits: Limits, *,
                 thinking: bool = False, purpose: str = "debug", priority: Priority = Priority.BACKGROUND,
                 on_step: Callable[[Step], None] | None = None,
                 describe: Callable[[ToolCall], str] = default_describe,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine, self.executor, self.tools, self.limits = engine, executor, list(tools), limits
        self.thinking, self.purpose, self.priority = thinking, purpose, priority
        self.on_step, self.describe, self.clock = on_step, describe, clock
        self.tool_calls = 0
        self.tokens = 0
        self._call_ids = 0  # numbers the calls' ids, so each result names its own call
        self._deadline = 0.0

    async def run(self, messages: list[Message], cancel: CancelToken) -> LoopResult:
        """Run the session to an answer or a limit. Never raises except CancelledError of the task."""
        started = self.clock()
        self._deadline = started + self.limits.max_seconds
        history = list(messages)
        result = LoopResult(answer="", stop_reason=ANSWERED, messages=history)
        try:
            await self._turns(history, cancel, result)
        except asyncio.CancelledError:
            cancel.cancel("cancelled")
            raise
        except Cancelled:
            result.stop_reason = MAX_SECONDS if cancel.reason == MAX_SECONDS else CANCELLED
        except EngineError as error:
            result.stop_reason, result.error = ERROR, str(error)
        if cancel.cancelled and result.stop_reason == ANSWERED:
            result.stop_reason = MAX_SECONDS if cancel.reason == MAX_SECONDS else CANCELLED
        result.tool_calls, result.tokens = self.tool_calls, self.tokens
        result.seconds = self.clock() - started
        return result

    async def _turns(self, history: list[Message], cancel: CancelToken, result: LoopResult) -> None:
        final_turn = False
        while True:
            stop = self._budget_stop()
            if stop:
                result.stop_reason = stop
                return
            turn = await self._model_turn(history, cancel, final_turn)
            if turn.thought:
                result.thoughts.append(turn.thought)
            if turn.text:
                result.answer = turn.text  # the best answer so far is the latest thing it said
            if final_turn or (not turn.calls and not turn.errors):
                history.append(shapes.assistant_answer(turn.text, turn.thought))
                if final_turn:
                    result.stop_reason = MAX_TOOL_CALLS
                return
            if turn.calls:
                await self._run_tools(turn, history, cancel, result)
            else:
                history.append(shapes.assistant_answer(turn.text, turn.thought))
                history.append(prompts.call_error_message([e.message for e in turn.errors]))
                self.tool_calls += len(turn.errors)  # a garbled call spends budget: no endless retries
            if cancel.cancelled:
                raise Cancelled(cancel.reason)
            if self.tool_calls >= self.limits.max_tool_calls and not final_turn:
                history.append(prompts.limit_reached_message(LIMIT_NAMES[MAX_TOOL_CALLS]))
                final_turn = True

    def _budget_stop(self) -> str | None:
        if self.clock() >= self._deadline:
            return MAX_SECONDS
        if self.limits.max_tokens - self.tokens < MIN_TURN_TOKENS:
            return MAX_TOKENS
        return None

    async def _model_turn(self, history: list[Message], cancel: CancelToken, final: bool) -> ParsedTurn:
        self._report("model", "writing the answer…" if final else "asking the model…")
        request = GenerationRequest(
            messages=list(history), max_new_tokens=min(TURN_TOKENS, self.limits.max_tokens - self.tokens),
            tools=self.tools or None, thinking=self.thinking, priority=self.priority, purpose=self.purpose,
            cancel=LinkedToken(cancel))
        completion = await self._bounded(self.engine.generate(request), cancel)
        if cancel.cancelled:  # cancelled just as the turn ended
            raise Cancelled(cancel.reason or "cancelled")
        self.tokens += completion.stats.new_tokens or self.engine.count_tokens(completion.text)
        # With thinking on, the prompt after tool results opens a thought: the reply starts inside it.
        turn = parse_model_output(completion.text, in_thought=generation_opens_thought(history, self.thinking))
        log.info("%s turn: %d chars, %d calls, %d bad calls, finish %s", self.purpose, len(turn.text),
                 len(turn.calls), len(turn.errors), completion.finish_reason)
        if final:
            turn.calls, turn.errors = [], []  # the budget is spent: any call it still makes is ignored
        return turn

    async def _run_tools(self, turn: ParsedTurn, history: list[Message], cancel: CancelToken,
                         result: LoopResult) -> None:
        room = max(0, self.limits.max_tool_calls - self.tool_calls)
        ids = [shapes.call_id(self._call_ids + i + 1) for i in range(len(turn.calls))]
        self._call_ids += len(turn.calls)
        history.append(shapes.assistant_calls(turn.calls, ids, turn.thought))
        for call, id_ in zip(turn.calls[:room], ids, strict=False):
            self.tool_calls += 1
            self._report("tool", self.describe(call))
            outcome = await self._bounded(self._execute(call, LinkedToken(cancel)), cancel)
            ok = bool(getattr(outcome, "ok", False))
            content = getattr(outcome, "content", None) if ok else {"error": getattr(outcome, "error", "failed")}
            result.tools.append(ToolRun(call.name, dict(call.arguments), ok,
                                        str(getattr(outcome, "summary", "") or ""), content))
            # Tool output is untrusted text: result_text defangs it so it cannot forge calls or end the turn.
            history.append(shapes.tool_result(id_, call.name, content))
            if cancel.cancelled:
                raise Cancelled(cancel.reason)
        for call, id_ in zip(turn.calls[room:], ids[room:], strict=True):
            history.append(shapes.tool_result(id_, call.name,
                                              {"error": "not run: the session's tool-call limit is reached"}))
        if turn.errors:
            # Garbled calls have no id to answer: the model hears about them after the results.
            history.append(prompts.call_error_message([e.message for e in turn.errors]))
            self.tool_calls += len(turn.errors)

    async def _execute(self, call: ToolCall, cancel: CancelToken) -> Any:
        """Run a tool through the executor, off the event loop when it is synchronous."""
        if inspect.iscoroutinefunction(self.executor.execute):
            return await self.executor.execute(call, cancel)
        return await asyncio.to_thread(self.executor.execute, call, cancel)

    async def _bounded(self, awaitable: Any, cancel: CancelToken) -> Any:
        """Await a model turn or a tool run, stopping it when the session's time is up."""
        task = asyncio.ensure_future(awaitable)
        try:
            done, _ = await asyncio.wait({task}, timeout=max(0.0, self._deadline - self.clock()))
        except asyncio.CancelledError:
            cancel.cancel("cancelled")
            task.cancel()
            raise
        if not done:
            cancel.cancel(MAX_SECONDS)  # the engine and the sandbox both watch the token
            try:
                await asyncio.wait_for(task, 10)
            except (TimeoutError, Cancelled, asyncio.CancelledError):
                task.cancel()
            raise Cancelled(MAX_SECONDS)
        return task.result()

    def _report(self, kind: str, message: str) -> None:
        if self.on_step is not None:
            try:
                self.on_step(Step(kind, message, self.tool_calls, self.tokens))
            except Exception:  # progress is best effort; the session goes on
                log.debug("progress callback failed", exc_info=True)
