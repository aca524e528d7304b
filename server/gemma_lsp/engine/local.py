"""The local engine: Gemma 4 target + assistant drafter through transformers, on this machine.

Model work runs in the scheduler (engine/scheduler.py): one worker thread that owns the model and
interleaves requests one decoding step at a time, inline completions first, each with its own KV
cache, reusing cached prompt prefixes, drafting with the Gemma 4 assistant or from the prompt. Text
streams back to the event loop as it is verified; a cancel stops the model within one step.
`alternatives` adds branches off the greedy completion (engine/branching.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncGenerator
from typing import Any

from gemma_lsp.config import DEFAULT_DRAFT_TOKENS, DEFAULT_KV_CACHE_BUDGET_MB
from gemma_lsp.engine import branching
from gemma_lsp.engine.base import (
    BaseEngine,
    Cancelled,
    CancelToken,
    Completion,
    EngineError,
    EngineInfo,
    GenerationRequest,
    Outcome,
    ProgressCallback,
)
from gemma_lsp.engine.output import shape_whole
from gemma_lsp.engine.scheduler import DecodeParams, Handle, Result, Scheduler, SchedulerConfig
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
        # supersede key -> cancel token of an `alternatives` call past its greedy part (tests watch it;
        # supersession itself is the base registry's, which holds the call's token throughout).
        self._branching: dict[str, CancelToken] = {}

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
        ids = self._prompt_ids(request)
        loop = asyncio.get_running_loop()
        out: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        params = self._decode_params(request)
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

    def _prompt_ids(self, request: GenerationRequest) -> list[int]:
        prompt = self.render(request.messages, request.tools, request.thinking) + request.prefill
        return list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])

    def _decode_params(self, request: GenerationRequest) -> DecodeParams:
        """The scheduler's parameters; supersession is the engine's (BaseEngine), not the scheduler's."""
        return DecodeParams(
            max_new_tokens=request.max_new_tokens, eos_token_ids=self._stop_ids, stop=request.stop,
            stop_check=request.stop_check, priority=request.priority, purpose=request.purpose,
        )

    # ----- alternatives (engine/branching.py) --------------------------------------------------
    async def alternatives(self, request: GenerationRequest, n: int) -> list[Completion]:
        """The greedy completion, then up to n - 1 branches off it where the model was least sure.

        The greedy part is the very job `generate` runs (same prompt ids, same parameters), so item 0
        is exactly its text. Branching costs one scoring forward plus one short greedy run per branch,
        each reusing the prompt's and the greedy prefix's KV. A branch that fails is logged and left out:
        the greedy item never depends on it. Supersession and the cancel rule are `generate`'s: the
        whole call is registered under the request's key, and a cancel raises Cancelled."""
        if self._model is None or self._scheduler is None:
            raise EngineError("the model is not loaded")
        self._supersede.register(request.supersede_key, request.cancel)
        try:
            completions = await self._alternatives(request, n)
        finally:
            self._supersede.release(request.supersede_key, request.cancel)
        if request.cancel.cancelled:
            raise Cancelled(request.cancel.reason or "cancelled")
        return completions

    async def _alternatives(self, request: GenerationRequest, n: int) -> list[Completion]:
        ids = self._prompt_ids(request)
        params = self._decode_params(request)
        greedy = await self._run(ids, params, request.cancel)
        if greedy.finish_reason == "cancelled":
            raise Cancelled(request.cancel.reason or "cancelled")
        first = Completion(greedy.text, self._finish_reason(greedy), greedy.stats)
        first.stats.finish_reason = first.finish_reason
        if n <= 1:
            return [first]
        key = request.supersede_key
        if key is not None:
            self._branching[key] = request.cancel
        try:
            others = await self._branches(ids, greedy, params, request.cancel, n - 1)
        except EngineError as error:  # the scoring forward failed: the greedy item still stands
            log.warning("alternatives: branching failed, returning the greedy completion only: %s", error)
            others = []
        finally:
            if key is not None and self._branching.get(key) is request.cancel:
                del self._branching[key]
        return [first, *others]

    async def _branches(self, ids: list[int], greedy: Result, params: DecodeParams, cancel: CancelToken,
                        n: int) -> list[Completion]:
        assert self._scheduler is not None
        tokenizer = self.tokenizer
        generated = greedy.token_ids
        # Branch only where the greedy prefix is still inside the text returned: past a stop string or
        # the stop_check's cut, tokens were generated but are not part of the completion. A branch at
        # position i takes i + 1 tokens, so it must also fit max_new_tokens.
        last = _last_position_within(tokenizer, generated, len(greedy.text))
        last = min(last, params.max_new_tokens - 1)
        if last < 0:
            return []
        chosen: list[int | None] = list(generated[:last])
        chosen.append(generated[last] if last < len(generated) else greedy.stop_token)
        try:
            scoring = self._scheduler.score(ids, list(generated[:last]), chosen, n + 1, params, cancel)
        except ValueError as error:
            raise EngineError(str(error)) from error
        scored = await self._wait(scoring)
        if cancel.cancelled or scored.scores is None:
            return []
        skip = set(self._stop_ids) | set(getattr(tokenizer, "all_special_ids", ()))
        picked = branching.choose_branches(scored.scores, n, skip)
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._branch(ids, list(generated[:b.position]) + [b.token], b.position,
                                                    params, cancel)) for b in picked]
        return [branch for task in tasks if (branch := task.result()) is not None]

    async def _branch(self, ids: list[int], head_ids: list[int], position: int, params: DecodeParams,
                      cancel: CancelToken) -> Completion | None:
        """Go on greedily after `head_ids` (greedy tokens, then the branch token) until the request's
        own stops end the whole text. None if it failed (logged)."""
        assert self._scheduler is not None
        decode = self.tokenizer.decode
        head = decode(head_ids, skip_special_tokens=False)
        room = params.max_new_tokens - len(head_ids)
        shaped = shape_whole(head, params.stop, params.stop_check)
        if shaped.stopped or room <= 0:
            return Completion(shaped.text, "stop" if shaped.stopped else "length", branched_at=position)
        rest = dataclasses.replace(params, max_new_tokens=room, stop=(), supersede_key=None,
                                   stop_check=branching.stop_after(head, params.stop, params.stop_check))
        try:
            result = await self._run([*ids, *head_ids], rest, cancel)
        except EngineError as error:  # e.g. over the context limit: the other items still stand
            log.warning("alternatives: a branch failed: %s", error)
            return None
        text = decode([*head_ids, *result.token_ids], skip_special_tokens=False)
        shaped = shape_whole(text, params.stop, params.stop_check)
        return Completion(shaped.text, "stop" if shaped.stopped else self._finish_reason(result), result.stats,
                          branched_at=position)

    async def _run(self, ids: list[int], params: DecodeParams, cancel: CancelToken) -> Result:
        """Run one generation to its end without streaming; a failure raises EngineError."""
        assert self._scheduler is not None
        try:
            handle = self._scheduler.submit(ids, params, cancel=cancel)
        except ValueError as error:  # e.g. the prompt is over the context limit
            raise EngineError(str(error)) from error
        return await self._wait(handle)

    async def _wait(self, handle: Handle) -> Result:
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()

        def end() -> None:
            if not ended.done():  # the waiting task may have been cancelled meanwhile
                ended.set_result(None)

        def wake(_: Handle) -> None:  # on the worker thread
            loop.call_soon_threadsafe(end)

        handle.add_done_callback(wake)
        try:
            await ended
        finally:
            if not handle.done:
                handle.cancel("consumer stopped")  # the caller's task was cancelled: stop the model too
        result = handle.wait()
        if result.finish_reason == "error":
            failure = result.error
            raise EngineError(f"generation failed: {type(failure).__name__}: {failure}") from failure
        return result


def _last_position_within(tokenizer: Any, generated: list[int], length: int) -> int:
    """The largest i <= len(generated) whose first i tokens decode to at most `length` characters."""
    low, high = 0, len(generated)
    while low < high:
        middle = (low + high + 1) // 2
        if len(tokenizer.decode(generated[:middle], skip_special_tokens=False)) <= length:
            low = middle
        else:
            high = middle - 1
    return low


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
