"""LocalEngine (engine/local.py) on the tiny model: the async interface over the scheduler.

Checks that what the features see — streamed text, finish reasons, stats, cancellation by task or
token, supersession, clear errors — comes out of the speculative engine unchanged: the text equals the
tiny target's plain greedy output rendered through the chat template.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import torch

from gemma_lsp.engine.base import Cancelled, EngineError, GenerationRequest, Priority
from gemma_lsp.engine.local import LocalEngine

from .engine_helpers import plain_greedy


def expected_text(eng: LocalEngine, messages, n: int) -> tuple[str, int]:
    """Plain greedy text for `messages` up to the first turn-ending token, and its token count."""
    tokenizer = eng.tokenizer
    ids = tokenizer(eng.render(messages), add_special_tokens=False)["input_ids"]
    out = plain_greedy(eng._model.target, ids, n)
    stops = eng._stop_ids
    cut = next((i for i, t in enumerate(out) if t in stops), len(out))
    return tokenizer.decode(out[:cut], skip_special_tokens=False), cut


async def test_streamed_text_is_plain_greedy_and_stats_are_filled(engine):
    messages = [{"role": "user", "content": "def add(a, b):\n    return a + b\n"}]
    chunks = [c async for c in engine.stream(GenerationRequest(messages=messages, max_new_tokens=40))]
    text, count = expected_text(engine, messages, 40)
    assert "".join(chunks) == text
    again = await engine.generate(GenerationRequest(messages=messages, max_new_tokens=40))
    assert again.text == text
    stats = again.stats
    assert stats.new_tokens == count and stats.finish_reason == again.finish_reason
    assert again.finish_reason in ("stop", "length", "tool_calls")
    assert stats.target_steps >= 1 and stats.prompt_tokens > 0 and stats.first_token_seconds > 0
    assert stats.reused_prompt_tokens > 0  # the second request reused the first one's prompt


async def test_cancelling_the_consumer_task_cancels_the_generation(engine):
    request = GenerationRequest(messages=[{"role": "user", "content": "go on"}], max_new_tokens=2000)
    got_text = asyncio.Event()

    async def consume():
        async for _ in engine.stream(request):
            got_text.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(got_text.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert request.cancel.cancelled
    await asyncio.wait_for(_idle(engine), 30)


async def test_superseded_request_reports_cancelled(engine):
    key = "completion:file:///x.py"
    older = GenerationRequest(messages=[{"role": "user", "content": "go on"}], max_new_tokens=2000,
                              supersede_key=key, priority=Priority.INTERACTIVE)
    newer = GenerationRequest(messages=[{"role": "user", "content": "b"}], max_new_tokens=5,
                              supersede_key=key, priority=Priority.INTERACTIVE)
    streaming = asyncio.Event()

    async def consume_older() -> str:
        try:
            async for _ in engine.stream(older):
                streaming.set()
        except Cancelled as error:
            return str(error)
        return "finished"

    first = asyncio.create_task(consume_older())
    await asyncio.wait_for(streaming.wait(), 30)
    second = await engine.generate(newer)
    assert "superseded" in await asyncio.wait_for(first, 30)
    assert second.finish_reason in ("stop", "length")


async def test_stop_strings_and_errors(engine):
    messages = [{"role": "user", "content": "print(1)"}]
    full = await engine.generate(GenerationRequest(messages=messages, max_new_tokens=30))
    stop = full.text[5:8]
    cut = await engine.generate(GenerationRequest(messages=messages, max_new_tokens=30, stop=[stop]))
    assert cut.text == full.text[: full.text.find(stop)]
    huge = [{"role": "user", "content": "x " * 40000}]
    with pytest.raises(EngineError, match="context limit"):
        await engine.generate(GenerationRequest(messages=huge, max_new_tokens=5))
    cancelled = GenerationRequest(messages=messages)
    cancelled.cancel.cancel()
    with pytest.raises(Cancelled):
        async for _ in engine.stream(cancelled):
            pass


async def _idle(engine: LocalEngine) -> None:
    def wait() -> None:
        while engine._scheduler.active:
            time.sleep(0.01)

    await asyncio.to_thread(wait)


torch.set_num_threads(1)


def test_draft_settings_change_without_reloading_and_output_stays_exact():
    """didChangeConfiguration of draftTokens / adaptiveDraft / kvCacheBudgetMb reaches the running engine."""
    import asyncio

    from gemma_lsp.engine.base import GenerationRequest
    from gemma_lsp.engine.local import LocalEngine
    from gemma_lsp.models.presets import resolve

    async def run() -> list[str]:
        engine = LocalEngine(resolve("tiny"), draft_tokens=4)
        await engine.start()
        texts = []
        for draft_tokens, adaptive in ((4, True), (1, False), (7, False)):
            engine.reconfigure(draft_tokens, adaptive, 64)
            config = engine._scheduler.config
            assert (config.draft_tokens, config.adaptive_draft) == (draft_tokens, adaptive)
            result = await engine.generate(GenerationRequest([{"role": "user", "content": "def f(x):"}],
                                                             max_new_tokens=24))
            texts.append(result.text)
        await engine.close()
        return texts

    texts = asyncio.run(run())
    assert texts[0] == texts[1] == texts[2]
