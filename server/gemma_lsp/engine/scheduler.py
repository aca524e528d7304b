"""One worker thread owns the model and interleaves many generations, one decoding step at a time.

Every `submit` becomes a job with its own `Sequence` (its own KV cache). Each turn of the worker loop
drops cancelled jobs (freeing their memory), picks the job to advance — the most urgent priority first,
round-robin among equals — and runs exactly one unit of work for it: one prefill chunk or one
speculative step. So an inline completion waits behind at most one step of a long debug session, and a
cancel (by the client, or by a newer request with the same `supersede_key`) takes effect before the
next step.

Text streams out as it is verified: after each step the new tokens are detokenized and shaped by the
engines' one output shaper (engine/output.py: stop strings, `stop_check`, hold-back), and only text that
cannot be cut by a later stop is passed to `on_text`; a stop ends the job at once.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gemma_lsp.client_terms import setting_name
from gemma_lsp.config import DEFAULT_DRAFT_TOKENS, DEFAULT_KV_CACHE_BUDGET_MB

from .base import DEFAULT_MAX_NEW_TOKENS, CancelToken, GenerationStats, Priority, StopCheck, SupersedeRegistry
from .branching import TokenChoices, token_choices
from .drafting import DraftPolicy, DraftStats, PromptLookup, lookup_limit
from .output import OutputShaper
from .prefix_cache import PrefixCache
from .speculative import Decoder
from .speculative import Sequence as TokenSequence

log = logging.getLogger(__name__)

TextCallback = Callable[[str], None]


@dataclass
class SchedulerConfig:
    """Engine tuning; every field has a safe default."""

    use_drafter: bool = True
    draft_tokens: int = DEFAULT_DRAFT_TOKENS  # every step when not adaptive
    max_draft_tokens: int = 8  # the most the cost model may draft in one step
    adaptive_draft: bool = True  # the cost model (drafting.py) chooses each step's draft length
    prompt_lookup: bool = True
    kv_cache_budget_bytes: int = DEFAULT_KV_CACHE_BUDGET_MB << 20
    prefill_chunk: int = 512  # prompt tokens per step, so a long prefill does not block urgent work
    # The model's context limit (prompt + generated), set by the model and the memory; not the
    # completion prompt's budget (Settings.prompt_budget_tokens).
    context_limit_tokens: int = 8192

    def __post_init__(self) -> None:
        if not 1 <= self.draft_tokens <= 16 or not self.draft_tokens <= self.max_draft_tokens <= 16:
            raise ValueError("draft tokens must satisfy 1 <= draft_tokens <= max_draft_tokens <= 16")
        if self.prefill_chunk < 1 or self.context_limit_tokens < 2 or self.kv_cache_budget_bytes < 0:
            raise ValueError("prefill_chunk >= 1, context_limit_tokens >= 2 and kv_cache_budget_bytes >= 0")


@dataclass
class DecodeParams:
    """What one generation wants (the prompt itself is passed as token ids)."""

    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    eos_token_ids: Collection[int] = ()
    stop: Sequence[str] = ()
    stop_check: StopCheck | None = None
    priority: Priority = Priority.FOREGROUND
    supersede_key: str | None = None  # a newer job with the same key cancels this one ("superseded")
    prompt_lookup: bool = True
    purpose: str = ""  # "completion", "explain", "fix", "debug": drafts' acceptance is learned per purpose
    use_drafter: bool = True  # False: this request never drafts with the drafter (plain steps, lookup aside)


@dataclass
class Result:
    text: str
    token_ids: list[int]
    finish_reason: str  # "stop", "length", "cancelled", "error"
    stats: GenerationStats
    stop_token: int | None = None  # the end-of-generation token that ended it, if one did
    error: BaseException | None = None
    scores: list[TokenChoices] | None = None  # what `Scheduler.score` found, one row per position


class Handle:
    """A submitted generation: wait for its result, or cancel it."""

    def __init__(self, cancel: CancelToken, wake: Callable[[], None]) -> None:
        self.cancel_token = cancel
        self._wake = wake
        self._done = threading.Event()
        self._result: Result | None = None
        self.cancelled_at: float | None = None  # perf_counter when cancel() was called
        self.freed_at: float | None = None  # perf_counter when the worker dropped the job
        self.steps_after_cancel = 0  # steps the worker started for this job after cancel()
        self._callbacks: list[Callable[[Handle], None]] = []
        self._lock = threading.Lock()

    def cancel(self, reason: str = "cancelled") -> None:
        """Ask the worker to stop this generation before its next step; returns at once."""
        if self.cancelled_at is None:
            self.cancelled_at = time.perf_counter()
        self.cancel_token.cancel(reason)
        self._wake()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> Result:
        """The result once the generation ended (any way); TimeoutError if not within `timeout`."""
        if not self._done.wait(timeout):
            raise TimeoutError("generation still running")
        assert self._result is not None
        return self._result

    def add_done_callback(self, callback: Callable[[Handle], None]) -> None:
        """Call `callback(handle)` when the generation ends (on the worker thread), or now if it has."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        callback(self)

    def _finish(self, result: Result) -> None:
        with self._lock:
            self._result = result
            self.freed_at = time.perf_counter()
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # a broken callback must not stop the worker
                log.exception("done callback failed")


class TextStream:
    """Incremental detokenization that never emits half a character."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self._prefix = 0  # ids[_prefix:_read] decode to text already returned
        self._read = 0

    def add(self, ids: list[int]) -> str:
        self.ids.extend(ids)
        prefix_text = self.tokenizer.decode(self.ids[self._prefix : self._read], skip_special_tokens=False)
        new_text = self.tokenizer.decode(self.ids[self._prefix :], skip_special_tokens=False)
        if len(new_text) <= len(prefix_text) or new_text.endswith("\ufffd"):
            return ""  # an incomplete UTF-8 sequence: wait for the next token
        self._prefix, self._read = self._read, len(self.ids)
        return new_text[len(prefix_text) :]

    def flush(self) -> str:
        """Whatever text is still held back (the generation ended mid-character)."""
        prefix_text = self.tokenizer.decode(self.ids[self._prefix : self._read], skip_special_tokens=False)
        new_text = self.tokenizer.decode(self.ids[self._prefix :], skip_special_tokens=False)
        self._prefix = self._read = len(self.ids)
        return new_text[len(prefix_text) :]


class Job:
    """One generation inside the worker: prefill in chunks, then one speculative step per turn."""

    def __init__(self, sched: Scheduler, prompt: list[int], params: DecodeParams, cancel: CancelToken,
                 on_text: TextCallback | None, handle: Handle, order: int) -> None:
        self.sched = sched
        self.params = params
        self.cancel = cancel
        self.on_text = on_text
        self.handle = handle
        self.order = order  # submission order; also the round-robin clock
        self.last_ran = order
        self.seq = TokenSequence(tokens=list(prompt), prompt_len=len(prompt))
        self.prompt = self.seq.tokens[:]
        self.prefilled = 0
        self.stats = GenerationStats(prompt_tokens=len(prompt))
        self.started = time.perf_counter()
        config = sched.config
        self.policy = DraftPolicy(
            decoder=sched.decoder,
            # Costs and acceptance estimates are the scheduler's, shared across requests: a drafter's
            # acceptance is mostly a property of the model pair and the kind of request, and short
            # inline completions cannot afford to relearn it every time.
            stats=sched.drafting,
            purpose=params.purpose,
            lookup=PromptLookup() if config.prompt_lookup and params.prompt_lookup else None,
            use_drafter=config.use_drafter and params.use_drafter,
            max_k=config.max_draft_tokens,
            fixed_k=None if config.adaptive_draft else config.draft_tokens,
            lookup_max=lookup_limit(params.purpose),
        )
        self.text_stream = TextStream(sched.tokenizer)
        self.output = OutputShaper(params.stop, params.stop_check)
        self.generated: list[int] = []
        self.result: Result | None = None

    @property
    def done(self) -> bool:
        return self.result is not None

    # -- one unit of work ---------------------------------------------------------------------

    def advance(self) -> None:
        if self.cancel.cancelled and self.handle.cancelled_at is not None:
            self.handle.steps_after_cancel += 1
        if self.prefilled < len(self.prompt):
            self._prefill_chunk()
        else:
            self._decode_step()

    def _prefill_chunk(self) -> None:
        if self.prefilled == 0 and self.sched.prefix_cache.budget_bytes:
            cache, reused = self.sched.prefix_cache.lookup(self.prompt)
            if reused:
                self.seq.cache, self.prefilled = cache, reused
                self.stats.reused_prompt_tokens = reused
        end = min(len(self.prompt), self.prefilled + self.sched.config.prefill_chunk)
        last = end == len(self.prompt)
        first = self.sched.decoder.prefill(self.seq, self.prompt[self.prefilled : end], last)
        self.prefilled = end
        if first is not None:
            self.sched.prefix_cache.store(self.prompt, self.seq.cache)
            self.stats.first_token_seconds = time.perf_counter() - self.started
            self._accept([first])

    def _decode_step(self) -> None:
        room = min(self.params.max_new_tokens - len(self.generated),
                   self.sched.config.context_limit_tokens - len(self.seq.tokens))
        if room <= 0:
            self._finish("length")
            return
        t0 = time.perf_counter()
        drafts = self.policy.propose(self.seq, room - 1)
        t1 = time.perf_counter()
        step = self.sched.decoder.step(self.seq, drafts)
        self.policy.update(step.drafted, step.accepted, draft_seconds=t1 - t0,
                           verify_seconds=time.perf_counter() - t1)
        self.stats.target_steps += 1
        self.stats.drafted_tokens += step.drafted
        self.stats.accepted_tokens += step.accepted
        self._accept(step.new_tokens)

    # -- tokens to text -----------------------------------------------------------------------

    def _accept(self, tokens: list[int]) -> None:
        """Take verified tokens up to an end token or the length limit, then stream their text."""
        eos = self.params.eos_token_ids
        stop_token = None
        take: list[int] = []
        for token in tokens:
            if token in eos:
                stop_token = token
                break
            take.append(token)
            if len(self.generated) + len(take) >= self.params.max_new_tokens:
                break
        self.generated.extend(take)
        self.stats.new_tokens = len(self.generated)
        at_limit = (len(self.generated) >= self.params.max_new_tokens
                    or len(self.seq.tokens) >= self.sched.config.context_limit_tokens)
        self._emit(self.output.feed(self.text_stream.add(take) if take else ""))
        if not self.output.stopped and (stop_token is not None or at_limit):
            self._emit(self.output.feed(self.text_stream.flush()) + self.output.finish())
        if self.output.stopped:
            self._finish("stop")
        elif stop_token is not None:
            self._finish("stop", stop_token=stop_token)
        elif at_limit:
            self._finish("length")

    def _emit(self, chunk: str) -> None:
        if chunk and self.on_text is not None:
            self.on_text(chunk)

    # -- the end ------------------------------------------------------------------------------

    def _finish(self, reason: str, stop_token: int | None = None, error: BaseException | None = None) -> None:
        if self.result is not None:
            return
        if reason in ("stop", "length"):
            self._emit(self.output.feed(self.text_stream.flush()) + self.output.finish())  # what was held back
            if self.seq.cache is not None:
                # Prompt and answer together: the next turn of a conversation starts with both.
                self.sched.prefix_cache.store(self.seq.tokens[: self.seq.cached_len], self.seq.cache)
        elif reason == "cancelled" and 0 < self.prefilled < len(self.prompt) and self.seq.cache is not None:
            # A superseded completion's prompt is what the next keystroke's request shares.
            self.sched.prefix_cache.store(self.prompt[: self.prefilled], self.seq.cache)
        self.stats.seconds = time.perf_counter() - self.started
        self.seq.free()
        self.result = Result(text=self.output.released_text, token_ids=list(self.generated), finish_reason=reason,
                             stats=self.stats, stop_token=stop_token, error=error)


class ScoreJob(Job):
    """Scores a known continuation of a prompt in one target forward (`Scheduler.score`).

    The prompt's KV comes from the prefix cache where it can (the greedy request that produced the
    continuation stored it), else it is prefilled chunk by chunk like any job. The forward runs on a
    fork of that cache which is dropped afterwards: nothing it computed is stored or reused.
    """

    def __init__(self, sched: Scheduler, prompt: list[int], continuation: list[int], chosen: list[int | None],
                 top_k: int, params: DecodeParams, cancel: CancelToken, handle: Handle, order: int) -> None:
        super().__init__(sched, prompt, params, cancel, None, handle, order)
        self.continuation = continuation
        self.chosen = chosen
        self.top_k = top_k

    def advance(self) -> None:
        head = len(self.prompt) - 1  # the last prompt token is fed with the continuation
        if self.prefilled == 0 and self.sched.prefix_cache.budget_bytes:
            cache, reused = self.sched.prefix_cache.lookup(self.prompt)
            if reused:
                self.seq.cache, self.prefilled = cache, reused
                self.stats.reused_prompt_tokens = reused
        if self.prefilled < head:
            end = min(head, self.prefilled + self.sched.config.prefill_chunk)
            self.sched.decoder.prefill(self.seq, self.prompt[self.prefilled : end], last=False)
            self.prefilled = end
            return
        logits = self.sched.decoder.score(self.seq, [self.prompt[-1], *self.continuation])
        scores = token_choices(logits, self.chosen, self.top_k)
        self._finish("stop")
        assert self.result is not None
        self.result.scores = scores

    def _finish(self, reason: str, stop_token: int | None = None, error: BaseException | None = None) -> None:
        self.seq.free()  # first: a finishing job stores its cache, and this one holds nothing new
        super()._finish(reason, stop_token, error)


class Scheduler:
    """Owns the model on one worker thread and runs submitted generations step by step.

    `Scheduler(target, drafter, tokenizer, config)`; `submit(prompt_ids, params, cancel, on_text)`
    returns a `Handle`. `on_text` is called on the worker thread with each verified piece of text.
    """

    def __init__(self, target: Any, drafter: Any | None, tokenizer: Any,
                 config: SchedulerConfig | None = None, decoder: Decoder | None = None) -> None:
        self.config = config or SchedulerConfig()
        self.decoder = decoder or Decoder(target, drafter if self.config.use_drafter else None)
        self.tokenizer = tokenizer
        self.prefix_cache = PrefixCache(self.config.kv_cache_budget_bytes)
        # What the cost model has measured and learned (step costs, acceptance per purpose): it
        # outlives requests and settings changes, since it describes the hardware and the model pair.
        self.drafting = DraftStats()
        self._cond = threading.Condition()
        self._inbox: list[Job] = []
        self._supersede = SupersedeRegistry()
        self._active: list[Job] = []
        self._clock = itertools.count(1)  # submission order and round-robin turns (atomic next())
        self._closed = False
        self.steps = 0  # units of work run, all jobs together
        self.on_step: Callable[[Job, float], None] | None = None  # (job, seconds) after each unit
        self._thread = threading.Thread(target=self._run, name="gemma-engine", daemon=True)
        self._thread.start()

    def reconfigure(self, draft_tokens: int, adaptive_draft: bool, kv_cache_budget_bytes: int) -> None:
        """Apply draft and cache settings to generations that start from now on (no reload).

        Swapping the config object is atomic; a running generation keeps the settings it started with."""
        config = dataclasses.replace(self.config, draft_tokens=draft_tokens, adaptive_draft=adaptive_draft,
                                     max_draft_tokens=max(self.config.max_draft_tokens, draft_tokens),
                                     kv_cache_budget_bytes=kv_cache_budget_bytes)
        self.config = config
        self.prefix_cache.budget_bytes = kv_cache_budget_bytes
        if kv_cache_budget_bytes == 0:
            self.prefix_cache.clear()

    def submit(self, prompt_ids: list[int], params: DecodeParams | None = None,
               cancel: CancelToken | None = None, on_text: TextCallback | None = None) -> Handle:
        """Queue a generation. A running one with the same `supersede_key` is cancelled ("superseded")."""
        params = params or DecodeParams()
        if not prompt_ids:
            raise ValueError("the prompt is empty")
        if len(prompt_ids) >= self.config.context_limit_tokens:
            # No setting raises this limit (the model and the memory left set it); the completion
            # prompt's budget is gemma.maxContextTokens, so lowering that is what helps.
            raise ValueError(f"the prompt has {len(prompt_ids)} tokens; the model's context limit (prompt + "
                             f"reply) is {self.config.context_limit_tokens}, set by the model and the memory "
                             f"available (completion prompts: lower {setting_name('maxContextTokens')})")
        if params.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be >= 1")
        cancel = cancel or CancelToken()
        handle = Handle(cancel, self._wake)
        with self._cond:
            if self._closed:
                raise RuntimeError("the engine is closed")
            job = Job(self, prompt_ids, params, cancel, on_text, handle, next(self._clock))
            self._supersede.register(params.supersede_key, handle)
            self._inbox.append(job)
            self._cond.notify()
        return handle

    def score(self, prompt_ids: list[int], continuation: list[int], chosen: list[int | None], top_k: int,
              params: DecodeParams | None = None, cancel: CancelToken | None = None) -> Handle:
        """Queue a scoring of `continuation` after `prompt_ids`: the result's `scores` has one
        `TokenChoices` per position 0..len(continuation) (the last one is what would follow it), with
        the `top_k` most likely tokens and the log-probability of `chosen[i]`. `params` gives the
        priority and supersede key; the prompt and continuation must fit the context limit."""
        params = dataclasses.replace(params or DecodeParams(), prompt_lookup=False)
        if not prompt_ids:
            raise ValueError("the prompt is empty")
        if len(prompt_ids) + len(continuation) >= self.config.context_limit_tokens:
            raise ValueError("the prompt and continuation are over the context limit")
        cancel = cancel or CancelToken()
        handle = Handle(cancel, self._wake)
        with self._cond:
            if self._closed:
                raise RuntimeError("the engine is closed")
            job = ScoreJob(self, prompt_ids, continuation, chosen, top_k, params, cancel, handle,
                           next(self._clock))
            self._inbox.append(job)
            self._cond.notify()
        return handle

    def close(self, timeout: float | None = 10.0) -> None:
        """Cancel everything, stop the worker and drop the cached prompts."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)
        self.prefix_cache.clear()

    @property
    def active(self) -> int:
        """Generations queued or running."""
        with self._cond:
            return len(self._inbox) + len(self._active)

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify()

    # -- the worker ---------------------------------------------------------------------------

    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._cond:
                    self._active.extend(self._inbox)
                    self._inbox.clear()
                    if self._closed:
                        break
                    if not self._active:
                        self._cond.wait()
                        continue
                self._turn()
        # A copy: _end removes from the list. Each job is finished first, or _end's assertion would
        # kill this thread and leave every waiting request hanging (found by the model-switch test).
        for job in list(self._active):
            job.cancel.cancel("engine closed")
            job._finish("cancelled")
            self._end(job)

    def _turn(self) -> None:
        """Drop cancelled jobs, then advance the most urgent one by one step."""
        for job in [j for j in self._active if j.cancel.cancelled]:
            job._finish("cancelled")
            self._end(job)
        if not self._active:
            return
        job = min(self._active, key=lambda j: (j.params.priority, j.last_ran))
        job.last_ran = next(self._clock)
        started = time.perf_counter()
        try:
            job.advance()
        except Exception as exc:  # one failing request must not take the others down
            log.exception("generation failed")
            job._finish("error", error=exc)
            if "out of memory" in str(exc).lower() or isinstance(exc, MemoryError):
                _release_cached_memory()
        self.steps += 1
        if self.on_step is not None:
            self.on_step(job, time.perf_counter() - started)
        if job.done:
            self._end(job)

    def _end(self, job: Job) -> None:
        if job in self._active:
            self._active.remove(job)
        self._supersede.release(job.params.supersede_key, job.handle)
        assert job.result is not None
        job.handle._finish(job.result)


def _release_cached_memory() -> None:
    """After an out-of-memory failure, hand the allocator's cached blocks back so the next request can
    get them (the failed job's tensors are already unreferenced)."""
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # never let cleanup fail the worker
        log.debug("could not empty the CUDA cache", exc_info=True)
