"""The local engine: Gemma 4 target + assistant drafter through transformers, on this machine.

One worker thread owns the model; requests wait in a priority queue (inline completions first) and
stream their text back to the event loop as it is verified. A request's CancelToken is checked once per
decoding step, so a cancel stops the model within one step.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from gemma_lsp.engine.base import (
    Cancelled,
    Completion,
    EngineError,
    EngineInfo,
    GenerationRequest,
    GenerationStats,
    Message,
    ProgressCallback,
    StopFilter,
    SupersedeRegistry,
    ToolSpec,
)
from gemma_lsp.models import loader
from gemma_lsp.models.presets import ModelSpec

log = logging.getLogger(__name__)

# Tokens that end a model turn (the model stops at end of turn, and after tool calls where the tool
# response would go).
_STOP_TOKENS = ("<turn|>", "<|tool_response>", "<eos>")


@dataclass(order=True)
class _Job:
    priority: int
    seq: int
    request: GenerationRequest = field(compare=False)
    loop: asyncio.AbstractEventLoop = field(compare=False)
    out: asyncio.Queue = field(compare=False)


class LocalEngine:
    """Runs the model in-process. `start()` loads it; `stream()` generates."""

    def __init__(self, spec: ModelSpec, device: str = "auto", dtype: str = "auto", drafter: bool = True,
                 draft_tokens: int = 4, allow_download: bool = True) -> None:
        self.spec = spec
        self.info = EngineInfo(name="local", model=spec.name, placeholder=spec.tiny)
        self._device, self._dtype, self._use_drafter = device, dtype, drafter
        self.draft_tokens = draft_tokens
        self._allow_download = allow_download
        self._model: loader.LoadedModel | None = None
        self._jobs: queue.PriorityQueue[_Job] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._worker: threading.Thread | None = None
        self._supersede = SupersedeRegistry()
        self._closed = False
        self.last_stats: GenerationStats | None = None

    # ----- lifecycle -------------------------------------------------------------------------
    async def start(self, progress: ProgressCallback | None = None) -> None:
        self._model = await asyncio.to_thread(
            loader.load, self.spec, self._device, self._dtype, self._use_drafter, self._allow_download, progress
        )
        m = self._model
        self.info.device, self.info.dtype = m.device, m.dtype
        self.info.drafter = (self.spec.drafter if m.drafter is not None else None)
        if m.drafter is not None:
            m.drafter.generation_config.num_assistant_tokens = self.draft_tokens
            m.drafter.generation_config.num_assistant_tokens_schedule = "constant"
        self._stop_ids = {m.tokenizer.convert_tokens_to_ids(t) for t in _STOP_TOKENS}
        self._stop_ids.discard(m.tokenizer.unk_token_id)
        self._stop_ids.discard(None)
        self._worker = threading.Thread(target=self._work, name="gemma-model-worker", daemon=True)
        self._worker.start()
        log.info("model ready: %s on %s (%s), drafter %s", self.spec.name, m.device, m.dtype,
                 "on" if m.drafter is not None else "off")

    async def close(self) -> None:
        self._closed = True
        self._jobs.put(_Job(-1, -1, None, None, None))  # type: ignore[arg-type]
        if self._worker:
            await asyncio.to_thread(self._worker.join, 5)
        self._model = None

    # ----- text helpers ----------------------------------------------------------------------
    @property
    def tokenizer(self) -> Any:
        if self._model is None:
            raise EngineError("the model is not loaded yet")
        return self._model.tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def render(self, messages: list[Message], tools: Sequence[ToolSpec] | None = None,
               thinking: bool = False) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tools=list(tools) if tools else None, tokenize=False,
            add_generation_prompt=True, enable_thinking=thinking,
        )

    # ----- generation ------------------------------------------------------------------------
    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        if self._model is None or self._worker is None:
            raise EngineError("the model is not loaded")
        self._supersede.register(request)
        loop = asyncio.get_running_loop()
        out: asyncio.Queue = asyncio.Queue()
        self._jobs.put(_Job(int(request.priority), next(self._seq), request, loop, out))
        finished = False
        try:
            while True:
                kind, value = await out.get()
                if kind == "text":
                    yield value
                elif kind == "done":
                    self.last_stats = value
                    finished = True
                    return
                elif kind == "error":
                    finished = True
                    raise value
        finally:
            if not finished:
                # The consumer stopped early (task cancelled, or it had enough): stop the model too.
                # The token is the caller's and may span several requests (an agent session), so it is
                # only touched when this request really was abandoned.
                request.cancel.cancel("consumer stopped")
            self._supersede.release(request)

    async def generate(self, request: GenerationRequest) -> Completion:
        chunks: list[str] = []
        try:
            async for chunk in self.stream(request):
                chunks.append(chunk)
        except Cancelled:
            return Completion("".join(chunks), "cancelled", self.last_stats or GenerationStats())
        stats = self.last_stats or GenerationStats()
        return Completion("".join(chunks), getattr(stats, "finish_reason", "stop"), stats)

    def _work(self) -> None:
        while not self._closed:
            job = self._jobs.get()
            if job.request is None:
                return
            emit = _emitter(job)
            if job.request.cancel.cancelled:
                emit("error", Cancelled(job.request.cancel.reason))
                continue
            try:
                stats = self._run(job.request, functools.partial(emit, "text"))
                emit("done", stats)
            except Cancelled as error:
                emit("error", error)
            except Exception as error:  # the worker survives; only this request fails
                log.exception("generation failed")
                emit("error", EngineError(f"generation failed: {type(error).__name__}: {error}"))

    def _run(self, request: GenerationRequest, on_text) -> GenerationStats:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        m = self._model
        assert m is not None
        prompt = self.render(request.messages, request.tools, request.thinking) + request.prefill
        ids = m.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"].to(m.device)
        stats = GenerationStats(prompt_tokens=int(ids.shape[1]))
        assembler = TextAssembler(m.tokenizer, self._stop_ids, request)
        started = time.perf_counter()

        class _Streamer:
            """Receives verified tokens from generate(); the prompt arrives first and is skipped."""

            def __init__(self) -> None:
                self.prompt_seen = False

            def put(self, value: Any) -> None:
                if not self.prompt_seen:
                    self.prompt_seen = True
                    return
                if not stats.first_token_seconds:
                    stats.first_token_seconds = time.perf_counter() - started
                stats.target_steps += 1
                for token in value.reshape(-1).tolist():
                    text = assembler.push(token)
                    if text:
                        on_text(text)
                    if assembler.finished:
                        break

            def end(self) -> None:
                pass

        class _StopWhen(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                done = request.cancel.cancelled or assembler.finished
                return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)

        with torch.inference_mode():
            out = m.target.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=request.max_new_tokens,
                do_sample=False,
                assistant_model=m.drafter if self._use_drafter else None,
                streamer=_Streamer(),
                stopping_criteria=StoppingCriteriaList([_StopWhen()]),
                pad_token_id=m.tokenizer.pad_token_id,
                eos_token_id=sorted(self._stop_ids),
            )
        if request.cancel.cancelled:
            raise Cancelled(request.cancel.reason)
        tail = assembler.flush()
        if tail:
            on_text(tail)
        stats.new_tokens = int(out.shape[1] - ids.shape[1])
        stats.seconds = time.perf_counter() - started
        stats.finish_reason = assembler.finish_reason or "length"
        return stats


def _emitter(job: _Job):
    """A function the worker thread calls to hand (kind, value) to the waiting coroutine."""

    def emit(kind: str, value: Any) -> None:
        job.loop.call_soon_threadsafe(job.out.put_nowait, (kind, value))

    return emit


class TextAssembler:
    """Turns verified token ids into text deltas: decodes incrementally (holding back an incomplete
    UTF-8 sequence), ends at a turn-ending token, and applies the request's stop rules."""

    def __init__(self, tokenizer: Any, stop_ids: set[int], request: GenerationRequest) -> None:
        self._tokenizer = tokenizer
        self._stop_ids = stop_ids
        self._ids: list[int] = []
        self._decoded = ""
        self._filter = StopFilter(request)
        self._tool_response_id = tokenizer.convert_tokens_to_ids("<|tool_response>")
        self.finish_reason = ""

    @property
    def finished(self) -> bool:
        return bool(self.finish_reason) or self._filter.finished

    def push(self, token: int) -> str:
        if self.finished:
            return ""
        if token in self._stop_ids:
            self.finish_reason = "tool_calls" if token == self._tool_response_id else "stop"
            return self._filter.flush()
        self._ids.append(token)
        text = self._tokenizer.decode(self._ids, skip_special_tokens=False)
        if text.endswith("\ufffd"):
            return ""  # wait for the rest of a multi-byte character
        delta, self._decoded = text[len(self._decoded):], text
        out = self._filter.push(delta)
        if self._filter.finished:
            self.finish_reason = "stop"
        return out

    def flush(self) -> str:
        return "" if self._filter.finished else self._filter.flush()
