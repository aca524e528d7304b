"""The scripted engine stops, cancels and counts exactly like a real engine would."""

from __future__ import annotations

import asyncio
import json

import pytest

from gemma_lsp.engine.base import Cancelled, CancelToken, Engine, GenerationRequest, ModelUnavailable
from gemma_lsp.engine.scripted import ScriptedEngine, split_chunks

MESSAGES = [{"role": "user", "content": "Fix it"}]


def request(purpose: str = "fix", **kw) -> GenerationRequest:
    return GenerationRequest(messages=MESSAGES, purpose=purpose, **kw)


async def started(script: dict, tmp_path) -> ScriptedEngine:
    path = tmp_path / "script.json"
    path.write_text(json.dumps(script))
    engine = ScriptedEngine(path)
    await engine.start()
    return engine


async def test_replies_in_order_and_the_last_repeats(tmp_path):
    engine = await started({"fix": ["one", "two"]}, tmp_path)
    texts = [(await engine.generate(request())).text for _ in range(3)]
    assert texts == ["one", "two", "two"]
    assert isinstance(engine, Engine)
    log = [json.loads(line) for line in (tmp_path / "script.calls.jsonl").read_text().splitlines()]
    assert [c["index"] for c in log] == [0, 1, 1]
    assert all(c["purpose"] == "fix" and c["prompt_tokens"] > 5 for c in log)


async def test_the_call_log_keeps_each_prompt_in_the_chosen_template_variant(tmp_path):
    from gemma_lsp.gemma4.template import BIG_VARIANT

    path = tmp_path / "script.json"
    path.write_text(json.dumps({"fix": ["one"]}))
    for variant, ending in (("e2b", "<|turn>model\n"), (BIG_VARIANT, "<|turn>model\n<|channel>thought\n<channel|>")):
        engine = ScriptedEngine(path, variant=variant)
        await engine.start()
        await engine.generate(request(prefill="```"))
        log = [json.loads(line) for line in (tmp_path / "script.calls.jsonl").read_text().splitlines()]
        assert log[-1]["prompt"] == "<bos><|turn>user\nFix it<turn|>\n" + ending + "```"


async def test_turn_ends_at_tool_response_with_tool_calls_reason(tmp_path):
    reply = '<|tool_call>call:read_file{path:<|"|>a.py<|"|>}<tool_call|><|tool_response>response:x{}'
    engine = await started({"debug": [reply, "Answer<turn|>ignored"]}, tmp_path)
    first = await engine.generate(request("debug"))
    assert first.text == '<|tool_call>call:read_file{path:<|"|>a.py<|"|>}<tool_call|>'
    assert first.finish_reason == "tool_calls"
    second = await engine.generate(request("debug"))
    assert (second.text, second.finish_reason) == ("Answer", "stop")


async def test_stop_strings_are_cut_and_never_streamed_in_part(tmp_path):
    engine = await started({"fix": ["x = 1\n```\nmore text"]}, tmp_path)
    pieces = [p async for p in engine.stream(request(stop=["\n```"]))]
    assert "".join(pieces) == "x = 1"
    assert not any("`" in p for p in pieces)


async def test_stop_check_and_max_new_tokens(tmp_path):
    engine = await started({"completion": ["first line\nsecond line\n"]}, tmp_path)
    out = await engine.generate(request("completion", stop_check=lambda t: t.find("\n") if "\n" in t else None))
    assert (out.text, out.finish_reason) == ("first line", "stop")
    out = await engine.generate(request("completion", max_new_tokens=2))
    assert out.finish_reason == "length"
    assert engine.count_tokens(out.text) == 2 and "first line".startswith(out.text)


async def test_prompt_is_rendered_with_the_gemma4_template_and_tools(tmp_path):
    engine = await started({"debug": ["ok"]}, tmp_path)
    tools = [{"type": "function", "function": {"name": "run_tests", "description": "Run the tests",
                                                "parameters": {"type": "object", "properties": {}}}}]
    prompt = engine.render(MESSAGES, tools, thinking=True)
    assert prompt.startswith("<bos><|turn>system\n<|think|>")
    assert "<|tool>declaration:run_tests{" in prompt and prompt.endswith("<|turn>model\n")
    await engine.generate(request("debug", tools=tools, thinking=True))
    assert engine.calls[-1].tools == ["run_tests"] and engine.calls[-1].thinking


async def test_cancel_token_stops_a_slow_reply_in_the_middle(tmp_path):
    engine = await started({"debug": [{"text": "a" * 600, "delay": 0.02}]}, tmp_path)
    cancel = CancelToken()
    got: list[str] = []

    async def consume():
        async for piece in engine.stream(request("debug", cancel=cancel)):
            got.append(piece)
            if len(got) == 3:
                cancel.cancel("user")

    with pytest.raises(Cancelled):
        await consume()
    assert len(got) == 3
    assert engine.calls[-1].finish_reason == "cancelled"


async def test_task_cancel_stops_it_too(tmp_path):
    engine = await started({"debug": [{"text": "a" * 600, "delay": 0.05}]}, tmp_path)
    task = asyncio.create_task(engine.generate(request("debug")))
    await asyncio.sleep(0.12)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.calls[-1].finish_reason == "cancelled"
    assert len(engine.calls[-1].text) < 600


async def test_unscripted_purpose_is_an_empty_turn(tmp_path):
    engine = await started({"fix": ["x"]}, tmp_path)
    out = await engine.generate(request("explain"))
    assert (out.text, out.finish_reason) == ("", "stop")


@pytest.mark.parametrize("content, needle", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"fix": []}', "non-empty list"),
    ('{"fix": [{"delay": 1}]}', "reply 0 of 'fix'"),
    ('{"fix": ["ok", {"text": "a", "alternatives": "b"}]}', "reply 1 of 'fix'"),
    ('{"fix": [{"text": "a", "alternatives": [1]}]}', '"alternatives": [string, ...]'),
])
async def test_bad_script_files_say_what_is_wrong(tmp_path, content, needle):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ModelUnavailable) as err:
        await ScriptedEngine(path).start()
    assert needle in str(err.value) and err.value.fix


async def test_alternatives_are_the_reply_then_its_scripted_ones_cut_like_it(tmp_path):
    engine = await started({"completion": [{"text": "a + b\n", "alternatives": ["a - b\nmore", "b + a<turn|>x",
                                                                              "0"]}]}, tmp_path)
    cut = lambda: request("completion", stop_check=lambda t: t.find("\n") if "\n" in t else None)  # noqa: E731
    items = await engine.alternatives(cut(), 3)
    assert [(c.text, c.finish_reason) for c in items] == [("a + b", "stop"), ("a - b", "stop"), ("b + a", "stop")]
    assert (await engine.generate(cut())).text == "a + b"
    assert [c.text for c in await engine.alternatives(cut(), 1)] == ["a + b"]
    assert [c.text for c in await engine.alternatives(request("explain"), 3)] == [""]  # nothing scripted


async def test_missing_script_file(tmp_path):
    with pytest.raises(ModelUnavailable, match="cannot read"):
        await ScriptedEngine(tmp_path / "nope.json").start()


def test_special_tokens_stream_whole():
    chunks = split_chunks('<|tool_call>call:f{a:<|"|>long text here<|"|>}<tool_call|>')
    assert chunks[0] == "<|tool_call>" and '<|"|>' in chunks and chunks[-1] == "<tool_call|>"


async def test_a_newer_request_for_the_same_key_cancels_the_older():
    """Supersession holds for every engine, not only the local one."""
    import asyncio

    from gemma_lsp.engine.base import Cancelled, GenerationRequest
    from gemma_lsp.engine.scripted import ScriptedEngine

    engine = ScriptedEngine(script={"completion": [{"text": "x" * 300, "delay": 0.02}, "done"]})
    await engine.start()
    older = GenerationRequest([{"role": "user", "content": "a"}], purpose="completion",
                              supersede_key="completion:file:///a.py", max_new_tokens=1000)
    newer = GenerationRequest([{"role": "user", "content": "b"}], purpose="completion",
                              supersede_key="completion:file:///a.py")
    first = asyncio.ensure_future(engine.generate(older))
    await asyncio.sleep(0.1)
    second = await engine.generate(newer)
    with pytest.raises(Cancelled):  # the scripted engine's generate() raises like stream() does
        await first
    assert older.cancel.reason == "superseded by a newer request"
    assert second.text == "done"
