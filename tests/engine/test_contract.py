"""The engines' one contract (engine/base.py), run against every engine: scripted, local (the tiny
Gemma 4 pair) and remote (the fake OpenAI-compatible server over loopback).

The same scenarios must end the same way everywhere: a cancel, by the caller's token or by a newer
request with the same supersede_key, raises `Cancelled` from `stream()` and from `generate()` alike
(before, the scripted engine raised while the local and remote engines' `generate()` returned a
"cancelled" Completion, and every caller handled both); stop strings and stop_check cut the same reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from gemma_lsp.engine.base import BaseEngine, Cancelled, GenerationRequest, Priority
from gemma_lsp.engine.local import LocalEngine
from gemma_lsp.engine.remote import RemoteEngine
from gemma_lsp.engine.scripted import ScriptedEngine
from gemma_lsp.models import presets

from .fake_server import Fake, start_fake, stop

RAW = "abcdXYZ tail"  # a reply whose stop string "XYZ" straddles the scripted engine's 6-character chunks
LONG = "x " * 400  # what the scripted and remote engines stream slowly: long enough to cancel mid-way
KEY = "completion:file:///a.py"
DEADLINE_S = 60  # an upper bound for a wait, never a performance threshold


@dataclass
class Subject:
    engine: BaseEngine
    arm: Callable[[], None]  # makes the next requests long and slow (the remote server needs telling)
    raw: Callable[[], None]  # makes the next request's raw reply RAW (not for the local engine)


@pytest.fixture(scope="module")
def fake() -> Iterator[Fake]:
    server = start_fake("--models", "gemma-4-e4b-it")
    yield server
    stop(server.process)


def _nothing() -> None:
    return None


@pytest.fixture(params=["scripted", "local", "remote"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    if request.param == "scripted":
        engine: BaseEngine = ScriptedEngine(script={"completion": [{"text": LONG, "delay": 0.01}],
                                                    "explain": [RAW]})
        arm = raw = _nothing
    elif request.param == "local":
        engine = LocalEngine(presets.resolve("tiny"), device="cpu", kv_cache_budget_mb=16)
        arm = raw = _nothing  # the tiny model writes up to 2000 tokens of gibberish
    else:
        fake: Fake = request.getfixturevalue("fake")
        engine = RemoteEngine(fake.url, model="gemma-4-e4b-it")

        def arm() -> None:
            fake.script(*[{"content": ["x "] * 400, "delay": 0.01}] * 3)

        def raw() -> None:
            fake.script({"content": [RAW[:6], RAW[6:]]}, {"content": [RAW[:6], RAW[6:]]})
    await engine.start()
    yield Subject(engine, arm, raw)
    await engine.close()


def long_request(content: str = "go on", **kwargs: Any) -> GenerationRequest:
    return GenerationRequest(messages=[{"role": "user", "content": content}], max_new_tokens=2000,
                             purpose="completion", priority=Priority.INTERACTIVE, **kwargs)


async def test_a_token_cancelled_mid_stream_raises_cancelled(subject: Subject) -> None:
    subject.arm()
    request = long_request()
    pieces: list[str] = []
    with pytest.raises(Cancelled, match="user moved on"):
        async with asyncio.timeout(DEADLINE_S):
            async for piece in subject.engine.stream(request):
                pieces.append(piece)
                request.cancel.cancel("user moved on")
    assert pieces  # it had started; it stopped at the cancel instead of running to its end


async def test_a_token_cancelled_generate_raises_cancelled(subject: Subject) -> None:
    subject.arm()
    request = long_request()
    seen: list[str] = []

    def cancel_once_text_came(text: str) -> None:
        # Every engine calls stop_check as text arrives (the worker thread, for the local engine): a
        # cancel from here lands in the middle of the generation.
        seen.append(text)
        request.cancel.cancel("user moved on")

    request.stop_check = cancel_once_text_came
    with pytest.raises(Cancelled, match="user moved on"):
        await asyncio.wait_for(subject.engine.generate(request), DEADLINE_S)
    assert seen


async def test_a_token_cancelled_before_the_start_raises_cancelled(subject: Subject) -> None:
    subject.arm()
    request = long_request()
    request.cancel.cancel("never mind")
    with pytest.raises(Cancelled, match="never mind"):
        await asyncio.wait_for(subject.engine.generate(request), DEADLINE_S)


async def test_a_newer_request_with_the_same_key_supersedes_the_older(subject: Subject) -> None:
    subject.arm()
    older = long_request(supersede_key=KEY)
    streaming = asyncio.Event()

    async def consume() -> None:
        async for _ in subject.engine.stream(older):
            streaming.set()

    first = asyncio.create_task(consume())
    await asyncio.wait_for(streaming.wait(), DEADLINE_S)
    newer = long_request("b", supersede_key=KEY)
    newer.max_new_tokens = 5
    second = await asyncio.wait_for(subject.engine.generate(newer), DEADLINE_S)
    with pytest.raises(Cancelled, match="superseded"):
        await asyncio.wait_for(first, DEADLINE_S)
    assert second.finish_reason in ("stop", "length")


async def test_stop_strings_and_stop_check_cut_the_same_reply_from_the_same_raw_text(subject: Subject) -> None:
    subject.raw()
    plain = GenerationRequest(messages=[{"role": "user", "content": "print(1)"}], max_new_tokens=40,
                              purpose="explain")
    raw = (await subject.engine.generate(plain)).text  # the local engine's is the tiny model's greedy text
    assert len(raw) >= 8, f"too short a reply to test with: {raw!r}"
    stop, marker = raw[4:7], raw[5]

    def before_marker(text: str) -> int | None:
        return text.find(marker) if marker in text else None

    subject.raw()
    shaped = GenerationRequest(messages=plain.messages, max_new_tokens=40, purpose="explain", stop=[stop],
                               stop_check=before_marker)
    completion = await subject.engine.generate(shaped)
    # The whole-text rule (engine/output.py): cut at the first stop string, then by the check. Before,
    # the scripted and local engines showed the check the held-back start of the stop string and cut
    # one character later than the remote engine.
    text = raw[: raw.find(stop)]
    expected = text[: before_marker(text)] if marker in text else text
    assert (completion.text, completion.finish_reason) == (expected, "stop")
