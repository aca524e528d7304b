"""The local engine: Gemma 4 target + assistant drafter through transformers, on this machine.

Model work runs in the scheduler (engine/scheduler.py): one worker thread that owns the model and
interleaves requests one decoding step at a time, inline completions first, each with its own KV
cache, reusing cached prompt prefixes, drafting with the Gemma 4 assistant or from the prompt. Text
streams back to the event loop as it is verified; a cancel stops the model within one step.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

from gemma_lsp.config import DEFAULT_DRAFT_TOKENS, DEFAULT_KV_CACHE_BUDGET_MB
from gemma_lsp.engine.base import (
    BaseEngine,
    Cancelled,
    EngineError,
    EngineInfo,
    GenerationRequest,
    Outcome,
    ProgressCallback,
)
from gemma_lsp.engine.scheduler import DecodeParams, Result, Scheduler, SchedulerConfig
from gemma_lsp.gemma4 import tokens
from gemma_lsp.models import loader
from gemma_lsp.models.presets import ModelSpec
from gemma_lsp.models.sizing import DEFAULT_CONTEXT

log = logging.getLogger(__name__)

# Every layer keeps full-length KV (see speculative.py), so the context bound is also a memory bound.
# The default is the one models/sizing.py sizes presets for.
_DEFAULT_CONTEXT_LIMIT = DEFAULT_CONTEXT


class LocalEngine(BaseEngine):
    """Runs the model in-process. `start()` loads it; `stream()` generates."""

    def __init__(self, spec: ModelSpec, device: str = "auto", dtype: str = "auto", drafter: bool = True,
                 draft_tokens: int = DEFAULT_DRAFT_TOKENS, allow_download: bool = True, adaptive_draft: bool = True,
                 kv_cache_budget_mb: int = DEFAULT_KV_CACHE_BUDGET_MB,
                 context_limit_tokens: int | None = None) -> None:
        """`context_limit_tokens` bounds prompt + reply of any request (default: what the model was
        trained for and the memory allows, at most 32,768); `kv_cache_budget_mb` bounds the reused
        prompt caches."""
        super().__init__()
        self.spec = spec
        self.info = EngineInfo(name="local", model=spec.name, placeholder=spec.tiny)
        self._device, self._dtype, self._use_drafter = device, dtype, drafter
        self.draft_tokens = draft_tokens
        self._allow_download = allow_download
        # Invalid values raise here, before any model is loaded.
        self._config = SchedulerConfig(
            use_drafter=drafter, draft_tokens=draft_tokens, max_draft_tokens=max(SchedulerConfig.max_draft_tokens, draft_tokens),
            adaptive_draft=adaptive_draft, kv_cache_budget_bytes=kv_cache_budget_mb << 20,
            context_limit_tokens=context_limit_tokens or _DEFAULT_CONTEXT_LIMIT,
        )
        self._context_limit_set = context_limit_tokens is not None
        self._model: loader.LoadedModel | None = None
        self._scheduler: Scheduler | None = None

    # ----- lifecycle -------------------------------------------------------------------------
    async def start(self, progress: ProgressCallback | None = None) -> None:
        self._model = await asyncio.to_thread(
            loader.load, self.spec, self._device, self._dtype, self._use_drafter, self._allow_download, progress,
            self._config.kv_cache_budget_bytes >> 20,
        )
        m = self._model
        self.info.device, self.info.dtype = m.device, m.dtype
        self.info.drafter = (self.spec.drafter if m.drafter is not None else None)
        self._stop_ids = {m.tokenizer.convert_tokens_to_ids(t) for t in tokens.STOP_TOKENS}
        self._stop_ids.discard(m.tokenizer.unk_token_id)
        self._stop_ids.discard(None)
        self._tool_response_id = m.tokenizer.convert_tokens_to_ids(tokens.RESPONSE_OPEN)
        if not self._context_limit_set:
            trained = getattr(m.target.config.get_text_config(), "max_position_embeddings", None)
            self._config.context_limit_tokens = min(trained or _DEFAULT_CONTEXT_LIMIT, _DEFAULT_CONTEXT_LIMIT,
                                                    m.context_limit_tokens or _DEFAULT_CONTEXT_LIMIT)
        self._scheduler = Scheduler(m.target, m.drafter, m.tokenizer, self._config)
        log.info("model ready: %s on %s (%s), drafter %s; %s", self.spec.name, m.device, m.dtype,
                 "on" if m.drafter is not None else "off", _memory_note(m.target, m.device))
        log.info("engine: draft tokens %d (%s), prompt lookup on, KV cache budget %d MiB, context limit %d",
                 self._config.draft_tokens, "adaptive" if self._config.adaptive_draft else "fixed",
                 self._config.kv_cache_budget_bytes >> 20, self._config.context_limit_tokens)

    def reconfigure(self, draft_tokens: int, adaptive_draft: bool, kv_cache_budget_mb: int) -> None:
        """Change the draft length, its adaptation and the prompt-cache budget without reloading."""
        self.draft_tokens = draft_tokens
        if self._scheduler is not None:
            self._scheduler.reconfigure(draft_tokens, adaptive_draft, kv_cache_budget_mb << 20)
            self._config = self._scheduler.config
            log.info("engine: draft tokens %d (%s), KV cache budget %d MiB", draft_tokens,
                     "adaptive" if adaptive_draft else "fixed", kv_cache_budget_mb)

    async def close(self) -> None:
        if self._scheduler is not None:
            await asyncio.to_thread(self._scheduler.close, 5)
            self._scheduler = None
        self._model = None

    # ----- text helpers ----------------------------------------------------------------------
    @property  # type: ignore[override]
    def tokenizer(self) -> Any:
        if self._model is None:
            raise EngineError("the model is not loaded yet")
        return self._model.tokenizer

    # ----- generation ------------------------------------------------------------------------
    async def _produce(self, request: GenerationRequest, outcome: Outcome) -> AsyncGenerator[str, None]:
        """The scheduler's job for `request`, its shaped text carried from the worker thread."""
        if self._model is None or self._scheduler is None:
            raise EngineError("the model is not loaded")
        prompt = self.render(request.messages, request.tools, request.thinking) + request.prefill
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        loop = asyncio.get_running_loop()
        out: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        params = DecodeParams(
            max_new_tokens=request.max_new_tokens, eos_token_ids=self._stop_ids, stop=request.stop,
            stop_check=request.stop_check, priority=request.priority, purpose=request.purpose,
        )
        def send(kind: str, value: Any) -> None:  # called on the worker thread
            loop.call_soon_threadsafe(out.put_nowait, (kind, value))

        try:
            handle = self._scheduler.submit(ids, params, cancel=request.cancel,
                                            on_text=lambda text: send("text", text))
        except ValueError as error:  # e.g. the prompt is over the context limit
            raise EngineError(str(error)) from error
        handle.add_done_callback(lambda _: send("done", None))
        try:
            while True:
                kind, value = await out.get()
                if kind == "text":
                    yield value
                    continue
                result: Result = handle.wait()
                outcome.finish_reason, outcome.stats = self._finish_reason(result), result.stats
                if result.finish_reason == "cancelled":
                    raise Cancelled(request.cancel.reason or "cancelled")
                if result.finish_reason == "error":
                    failure = result.error
                    raise EngineError(f"generation failed: {type(failure).__name__}: {failure}") from failure
                return
        finally:
            if not handle.done:
                # The consumer stopped early (task cancelled, or it had enough): stop the model too.
                # The token is the caller's and may span several requests (an agent session), so it is
                # only touched when this request really was abandoned.
                handle.cancel("consumer stopped")

    def _finish_reason(self, result: Result) -> str:
        if result.finish_reason == "stop" and result.stop_token is not None \
                and result.stop_token == self._tool_response_id:
            return "tool_calls"
        return result.finish_reason


def _memory_note(model: Any, device: str) -> str:
    """Weights' size, and on CUDA the memory allocated: for the log line at start."""
    import torch

    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    note = f"weights {weights / 2**30:.2f} GiB"
    if device.startswith("cuda") and torch.cuda.is_available():
        note += f", CUDA allocated {torch.cuda.memory_allocated() / 2**30:.2f} GiB"
        placement = getattr(model, "hf_device_map", None)
        if placement:
            note += f" across {len(set(placement.values()))} device(s)"
    return note
