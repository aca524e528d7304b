"""The remote engine over real HTTP on loopback.

Two server processes, both started here and bound to 127.0.0.1:
- `fake`: remote_support/fake_openai_server.py, a scripted OpenAI-compatible server that streams
  exactly like vLLM and misbehaves on demand (drops, stalls, refuses, 401, tool-call fragments).
- `hf_server`: a real one, `transformers serve` with the tiny random Gemma 4 (needs the `serving`
  extra of transformers; skipped without it). Its output is gibberish, so tests check structure.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import aclosing
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import psutil
import pytest

from gemma_lsp.engine.base import Cancelled, Engine, EngineError, GenerationRequest, ModelUnavailable
from gemma_lsp.engine.remote import RemoteEngine, from_settings, normalize_base_url, render_tool_call
from gemma_lsp.gemma4 import messages as shapes
from gemma_lsp.gemma4.codec import ToolCall

FAKE_SERVER = Path(__file__).parent / "remote_support" / "fake_openai_server.py"
KEY = "test-key"
MODELS = ["gemma-4-31b-it", "gemma-4-e4b-it"]
MODEL = MODELS[0]
USER = [{"role": "user", "content": "def add(a, b):"}]
READ_FILE = {"type": "function", "function": {
    "name": "read_file", "description": "Read a file of the workspace",
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}, "line": {"type": "integer"}},
                   "required": ["path"]}}}
DEADLINE_S = 20.0  # an upper bound for waits on another process, never a performance threshold


def until(check: Callable[[], Any], what: str) -> Any:
    """Poll `check` until it returns something truthy; fail after DEADLINE_S."""
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


# ----- the scripted server -----

@dataclass
class Fake:
    url: str
    spare_url: str
    control: str
    process: subprocess.Popen

    def script(self, *replies: dict[str, Any]) -> None:
        httpx.post(f"{self.control}/_script", json={"replies": list(replies)}).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.control}/_log").json()["requests"]

    def outcome(self, index: int, wanted: str) -> dict[str, Any]:
        """The log entry of chat request `index` once its outcome is `wanted`."""
        return until(lambda: next((r for r in self.requests()[index:index + 1] if r["outcome"] == wanted), None),
                     f"request {index} to end as {wanted}")


def start_fake(*args: str) -> Fake:
    process = subprocess.Popen([sys.executable, str(FAKE_SERVER), *args], stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline().split()
    assert line[:1] == ["PORTS"], f"fake server did not start: {line}"
    control = f"http://127.0.0.1:{line[1]}"
    return Fake(url=f"{control}/v1", spare_url=f"http://127.0.0.1:{line[2]}/v1", control=control, process=process)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def fake_process() -> Iterator[Fake]:
    fake = start_fake("--api-key", KEY, "--models", ",".join(MODELS))
    yield fake
    stop(fake.process)


@pytest.fixture
def fake(fake_process: Fake) -> Fake:
    httpx.post(f"{fake_process.control}/_reset").raise_for_status()
    return fake_process


class Backoff:
    """Stands in for the engine's backoff sleep: records each delay, then runs `action`."""

    def __init__(self, action: Callable[[], Any] | None = None) -> None:
        self.delays: list[float] = []
        self.action = action

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self.action:
            self.action()


@pytest.fixture
async def engines() -> Any:
    """Makes engines with a recorded backoff and closes them after the test."""
    made: list[RemoteEngine] = []

    def make(url: str, **kwargs: Any) -> RemoteEngine:
        kwargs.setdefault("model", MODEL)
        kwargs.setdefault("api_key", KEY)
        engine = RemoteEngine(url, **kwargs)
        engine._sleep = Backoff()
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.close()


async def collect(engine: RemoteEngine, request: GenerationRequest) -> tuple[list[str], BaseException | None]:
    pieces: list[str] = []
    try:
        async for piece in engine.stream(request):
            pieces.append(piece)
    except EngineError as exc:
        return pieces, exc
    return pieces, None


def test_remote_engine_implements_the_engine_protocol() -> None:
    assert isinstance(RemoteEngine("http://127.0.0.1:1/v1"), Engine)


def test_base_url_is_normalised_and_bad_urls_are_refused() -> None:
    assert normalize_base_url("http://gpu:8000") == "http://gpu:8000/v1"
    assert normalize_base_url("https://gpu/openai/v1/") == "https://gpu/openai/v1"
    with pytest.raises(ValueError, match="http://host:port/v1"):
        RemoteEngine("gpu:8000")


async def test_start_takes_the_first_served_model(fake: Fake, engines: Any) -> None:
    engine = engines(fake.url, model=None)
    progress: list[tuple[str, int | None]] = []
    await engine.start(lambda message, pct: progress.append((message, pct)))
    assert engine.info.model == MODELS[0]
    assert engine.served_models == MODELS
    assert progress[-1][1] == 100


async def test_a_model_the_server_does_not_serve_is_named_with_the_served_ones(fake: Fake, engines: Any) -> None:
    engine = engines(fake.url, model="gemma-4-26b-a4b-it")
    with pytest.raises(ModelUnavailable) as caught:
        await engine.start()
    assert "gemma-4-26b-a4b-it" in str(caught.value)
    assert all(model in str(caught.value) for model in MODELS)
    assert "remote.model" in caught.value.fix


async def test_a_bad_key_is_reported_with_the_setting_to_fix(fake: Fake, engines: Any) -> None:
    engine = engines(fake.url, api_key="wrong")
    with pytest.raises(ModelUnavailable, match="HTTP 401") as caught:
        await engine.start()
    assert "remote.apiKeyEnv" in caught.value.fix
    with pytest.raises(ModelUnavailable, match="refused the API key"):
        await collect_or_raise(engine, GenerationRequest(messages=USER))


async def collect_or_raise(engine: RemoteEngine, request: GenerationRequest) -> str:
    return "".join([piece async for piece in engine.stream(request)])


async def test_an_unreachable_server_is_retried_with_exponential_backoff_then_reported(engines: Any) -> None:
    with socket.socket() as bound_not_listening:  # connections to it are refused
        bound_not_listening.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound_not_listening.getsockname()[1]}/v1"
        engine = engines(url, connect_retries=3, backoff=0.25)
        with pytest.raises(ModelUnavailable, match="Cannot reach") as caught:
            await engine.start()
        assert "remote.url" in caught.value.fix
        assert engine._sleep.delays == [0.25, 0.5, 1.0]
        with pytest.raises(EngineError, match="after 4 attempts"):
            await collect_or_raise(engine, GenerationRequest(messages=USER))


async def test_refused_connections_are_retried_until_the_server_listens(engines: Any) -> None:
    fake = start_fake("--api-key", KEY, "--models", MODEL)
    try:
        engine = engines(fake.spare_url)
        engine._sleep = Backoff(action=lambda: httpx.post(f"{fake.control}/_listen").raise_for_status())
        assert await collect_or_raise(engine, GenerationRequest(messages=USER)) == "Hello world"
        assert engine._sleep.delays == [0.5]
    finally:
        stop(fake.process)


async def test_streams_deltas_and_sends_the_openai_request(fake: Fake, engines: Any) -> None:
    fake.script({"content": ["    return", " a + b", "\n"]})
    engine = engines(fake.url)
    request = GenerationRequest(messages=USER, max_new_tokens=17, stop=["\n\n"], tools=[READ_FILE])
    pieces, error = await collect(engine, request)
    assert error is None
    assert pieces == ["    return", " a + b", "\n"]
    sent = fake.requests()[0]
    assert sent["authorization"] == f"Bearer {KEY}"
    body = sent["body"]
    assert body["model"] == MODEL and body["stream"] is True and body["temperature"] == 0
    assert body["max_tokens"] == 17 and body["stop"] == ["\n\n"]
    assert body["messages"] == USER
    assert body["tools"] == [READ_FILE]
    assert "continue_final_message" not in body


async def test_generate_reports_usage_and_finish_reason(fake: Fake, engines: Any) -> None:
    fake.script({"content": ["x", "y"], "finish": "length"})
    completion = await engines(fake.url).generate(GenerationRequest(messages=USER))
    assert (completion.text, completion.finish_reason) == ("xy", "length")
    assert completion.stats.prompt_tokens == 7 and completion.stats.new_tokens > 0
    assert completion.stats.first_token_seconds > 0


async def test_alternatives_are_the_greedy_completion_only_from_one_greedy_request(fake: Fake, engines: Any) -> None:
    fake.script({"content": ["return", " a + b"]})
    items = await engines(fake.url).alternatives(GenerationRequest(messages=USER), 3)
    assert [(c.text, c.branched_at) for c in items] == [("return a + b", None)]
    bodies = [sent["body"] for sent in fake.requests()]
    assert len(bodies) == 1 and bodies[0]["temperature"] == 0 and bodies[0].get("n", 1) == 1


async def test_tool_call_fragments_come_back_as_gemma_4_text(fake: Fake, engines: Any) -> None:
    fake.script({"content": ["Let me look."], "tool_calls": [
        {"name": "read_file", "fragments": ['{"pa', 'th": "src/a', '.py", "li', 'ne": 3}']},
        {"name": "run_tests", "fragments": ["{}"]},
    ]})
    completion = await engines(fake.url).generate(GenerationRequest(messages=USER, tools=[READ_FILE]))
    assert completion.text == ('Let me look.<|tool_call>call:read_file{line:3,path:<|"|>src/a.py<|"|>}<tool_call|>'
                               "<|tool_call>call:run_tests{}<tool_call|>")
    assert completion.finish_reason == "tool_calls"


def test_rendered_tool_calls_match_the_chat_template() -> None:
    """The remote engine writes a call exactly as the Gemma 4 template renders it in history."""
    from gemma_lsp.models.tiny import build_tokenizer

    arguments = {"path": "a.py", "options": {"verbose": True, "depth": None, "ids": [1, 2.5]}}
    history = USER + [{"role": "assistant", "content": "",
                       "tool_calls": [{"type": "function", "function": {"name": "read_file", "arguments": arguments}}]}]
    rendered = build_tokenizer().apply_chat_template(history, tokenize=False)
    assert render_tool_call("read_file", json.dumps(arguments)) in rendered
    assert render_tool_call("f", "[1, 2]") == "<|tool_call>call:f[1, 2]<tool_call|>"  # passed on for the codec


async def test_reasoning_is_wrapped_in_the_thought_channel(fake: Fake, engines: Any) -> None:
    fake.script({"reasoning": ["The sum", " of a and b."], "content": ["return a + b"]})
    completion = await engines(fake.url).generate(GenerationRequest(messages=USER, thinking=True))
    assert completion.text == "<|channel>thought\nThe sum of a and b.<channel|>return a + b"
    assert fake.requests()[0]["body"]["chat_template_kwargs"] == {"enable_thinking": True}


async def test_a_drop_mid_reply_fails_clearly_without_repeating_text(fake: Fake, engines: Any) -> None:
    # chunk 0 is the role delta, 1-2 carry "a", "b"; the socket is cut before chunk 3
    fake.script({"content": ["a", "b", "c"], "drop_after": 3})
    engine = engines(fake.url)
    pieces, error = await collect(engine, GenerationRequest(messages=USER))
    assert pieces == ["a", "b"]
    assert isinstance(error, EngineError) and "lost in the middle" in str(error)
    assert len(fake.requests()) == 1 and engine._sleep.delays == []


async def test_a_drop_before_the_first_token_is_retried(fake: Fake, engines: Any) -> None:
    fake.script({"content": ["a"], "drop_after": 1}, {"status": 503, "error": "loading"}, {"content": ["a", "b"]})
    engine = engines(fake.url, backoff=0.1)
    pieces, error = await collect(engine, GenerationRequest(messages=USER))
    assert error is None and "".join(pieces) == "ab"
    assert [r["outcome"] for r in fake.requests()] == ["dropped", "completed", "completed"]
    assert engine._sleep.delays == [0.1, 0.2]


async def test_a_stream_that_ends_unfinished_counts_as_a_drop(fake: Fake, engines: Any) -> None:
    # no finish_reason, no [DONE]: a proxy cut the body cleanly
    fake.script({"content": ["a"], "finish": None, "usage": False, "done": False})
    pieces, error = await collect(engines(fake.url, connect_retries=0), GenerationRequest(messages=USER))
    assert pieces == ["a"] and "lost in the middle" in str(error)


async def test_a_stalled_server_times_out_and_the_request_is_closed(fake: Fake, engines: Any) -> None:
    fake.script({"content": ["a", "b"], "stall_after": 2})
    engine = engines(fake.url, timeout=1.0)
    pieces, error = await collect(engine, GenerationRequest(messages=USER))
    assert pieces == ["a"]
    assert isinstance(error, EngineError) and "sent nothing for 1 s" in str(error)
    fake.outcome(0, "client_closed")
    assert len(fake.requests()) == 1


async def test_the_cancel_token_closes_the_request(fake: Fake, engines: Any) -> None:
    fake.script({"content": ["tok"] * 500, "delay": 0.01})
    request = GenerationRequest(messages=USER)
    pieces: list[str] = []
    with pytest.raises(Cancelled, match="superseded"):
        async for piece in engines(fake.url).stream(request):
            pieces.append(piece)
            request.cancel.cancel("superseded")
    assert pieces == ["tok"]
    assert fake.outcome(0, "client_closed")["chunks"] < 500


async def streaming_started(fake: Fake) -> None:
    """Wait (without blocking the loop) until the fake server has sent a few chunks."""
    async with httpx.AsyncClient() as control:
        for _ in range(int(DEADLINE_S / 0.02)):
            if any(r["chunks"] > 2 for r in (await control.get(f"{fake.control}/_log")).json()["requests"]):
                return
            await asyncio.sleep(0.02)
    pytest.fail("the fake server never started streaming")


async def test_a_token_cancelled_generate_returns_the_text_so_far(fake: Fake, engines: Any) -> None:
    fake.script({"content": ["tok"] * 500, "delay": 0.01})
    request = GenerationRequest(messages=USER)
    generation = asyncio.create_task(engines(fake.url).generate(request))
    await streaming_started(fake)
    request.cancel.cancel()
    completion = await generation
    assert completion.finish_reason == "cancelled" and completion.text.startswith("tok")
    assert fake.outcome(0, "client_closed")["chunks"] < 500
    assert completion.text == "tok" * (len(completion.text) // 3)


async def test_cancelling_the_task_closes_the_request(fake: Fake, engines: Any) -> None:
    fake.script({"content": ["tok"] * 500, "delay": 0.01})
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in engines(fake.url).stream(GenerationRequest(messages=USER)):
            first.set()

    task = asyncio.create_task(consume())
    await first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert fake.outcome(0, "client_closed")["chunks"] < 500


async def test_a_caller_that_stops_reading_closes_the_request(fake: Fake, engines: Any) -> None:
    fake.script({"content": ["tok"] * 500, "delay": 0.01})
    async with aclosing(engines(fake.url).stream(GenerationRequest(messages=USER))) as pieces:
        async for _ in pieces:
            break
    assert fake.outcome(0, "client_closed")["chunks"] < 500


async def test_stop_strings_are_cut_even_when_split_across_deltas(fake: Fake, engines: Any) -> None:
    fake.script({"content": ["x = 1\n", "<E", "ND>", "never"]})
    pieces, error = await collect(engines(fake.url), GenerationRequest(messages=USER, stop=["<END>"]))
    assert error is None and "".join(pieces) == "x = 1\n"
    assert "<" not in "".join(pieces)


async def test_stop_check_ends_the_reply_early_and_closes_the_request(fake: Fake, engines: Any) -> None:
    fake.script({"content": ["x = 1", "\ny = 2", "\n"] + ["z"] * 300, "delay": 0.01})

    def first_line(text: str) -> int | None:
        return text.index("\n") if "\n" in text else None

    completion = await engines(fake.url).generate(GenerationRequest(messages=USER, stop_check=first_line))
    assert (completion.text, completion.finish_reason) == ("x = 1", "stop")
    assert fake.outcome(0, "client_closed")["chunks"] < 300


async def test_prefill_continues_an_assistant_message_where_the_server_can(fake: Fake, engines: Any) -> None:
    fake.script({"content": ["x = 1\n```"]})
    request = GenerationRequest(messages=USER, prefill="```python\n")
    completion = await engines(fake.url).generate(request)
    assert completion.text == "x = 1\n```"
    body = fake.requests()[0]["body"]
    assert body["messages"][-1] == {"role": "assistant", "content": "```python\n"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False


async def test_prefill_falls_back_to_stripping_when_the_server_refuses_to_continue(fake: Fake, engines: Any) -> None:
    fake.script({"status": 400, "error": "Assistant response prefill is incompatible with enable_thinking."},
                {"content": ["```python\n", "x = 1"]})
    engine = engines(fake.url)
    completion = await engine.generate(GenerationRequest(messages=USER, prefill="```python\n"))
    assert completion.text == "x = 1" and engine.prefill_mode == "strip"
    first, second = (r["body"] for r in fake.requests())
    assert first["continue_final_message"] is True
    assert "continue_final_message" not in second and second["messages"] == USER
    assert engine._sleep.delays == []  # a change of form, not a retry after a failure


async def test_prefill_written_again_by_the_model_is_stripped(fake: Fake, engines: Any) -> None:
    fake.script({"content": ["```py", "thon\nx = 1"]}, {"content": ["x = 2"]})
    engine = engines(fake.url, prefill_mode="strip")
    request = GenerationRequest(messages=USER, prefill="```python\n")
    assert (await engine.generate(request)).text == "x = 1"
    assert (await engine.generate(GenerationRequest(messages=USER, prefill="```python\n"))).text == "x = 2"
    assert "continue_final_message" not in fake.requests()[0]["body"]
    assert fake.requests()[0]["body"]["messages"] == USER


async def test_server_errors_are_reported_with_the_servers_message(fake: Fake, engines: Any) -> None:
    fake.script({"status": 400, "error": "max_tokens is too large"},
                {"content": ["a", "b"], "error_after": 2, "error": "CUDA out of memory"},
                {"json_body": {"choices": [{"message": {"content": "a"}}]}})
    engine = engines(fake.url)
    pieces, error = await collect(engine, GenerationRequest(messages=USER))
    assert pieces == [] and "HTTP 400" in str(error) and "max_tokens is too large" in str(error)
    pieces, error = await collect(engine, GenerationRequest(messages=USER))
    assert pieces == ["a"] and "error mid-stream: CUDA out of memory" in str(error)
    pieces, error = await collect(engine, GenerationRequest(messages=USER))
    assert pieces == [] and "did not stream" in str(error)
    assert len(fake.requests()) == 3 and engine._sleep.delays == []  # none of these is retried


async def test_history_with_tool_calls_is_sent_in_openai_form(fake: Fake, engines: Any) -> None:
    history = USER + [
        {"role": "assistant", "content": "",
         "tool_calls": [{"type": "function", "function": {"name": "read_file", "arguments": {"path": "a.py"}}}]},
        {"role": "tool", "name": "read_file", "content": {"text": "x = 1"}},
    ]
    await engines(fake.url).generate(GenerationRequest(messages=history, tools=[READ_FILE]))
    sent = fake.requests()[0]["body"]["messages"]
    call = sent[1]["tool_calls"][0]
    assert call["type"] == "function" and json.loads(call["function"]["arguments"]) == {"path": "a.py"}
    assert sent[2]["tool_call_id"] == call["id"] and json.loads(sent[2]["content"]) == {"text": "x = 1"}
    assert history[1]["tool_calls"][0]["function"]["arguments"] == {"path": "a.py"}  # the caller's copy is untouched


def test_settings_name_the_environment_variable_that_holds_the_key() -> None:
    settings = SimpleNamespace(url="http://gpu:8000/v1", model=None, api_key_env="TEAM_KEY", timeout_seconds=30)
    engine = from_settings(settings, environ={"TEAM_KEY": "s3cret"})
    assert (engine.base_url, engine.requested_model, engine.api_key, engine.timeout) == (
        "http://gpu:8000/v1", None, "s3cret", 30.0)
    assert from_settings(settings, environ={}).api_key is None


def test_token_counts_are_exact_with_a_tokenizer_and_estimated_without() -> None:
    from gemma_lsp.models.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    text = "def main():\n    return 0\n"
    assert RemoteEngine("http://h/v1", tokenizer=tokenizer).count_tokens(text) == len(
        tokenizer.encode(text, add_special_tokens=False))
    assert RemoteEngine("http://h/v1").count_tokens("x" * 35) == 10


async def test_a_debug_session_history_is_sent_with_its_ids_reasoning_and_string_results(
        fake: Fake, engines: Any) -> None:
    history = USER + [
        shapes.assistant_calls([ToolCall("read_file", {"path": "a.py"}), ToolCall("run_tests", {})],
                               ["call_1", "call_2"], reasoning="Read, then test."),
        shapes.tool_result("call_1", "read_file", "x = 1"),
        shapes.tool_result("call_2", "run_tests", {"failed": 0}),
    ]
    await engines(fake.url).generate(GenerationRequest(messages=history, tools=[READ_FILE]))
    sent = fake.requests()[0]["body"]["messages"]
    assert sent[1] == {"role": "assistant", "content": "", "reasoning": "Read, then test.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "run_tests", "arguments": "{}"}}]}
    assert sent[2:] == [
        {"role": "tool", "tool_call_id": "call_1", "name": "read_file", "content": "x = 1"},
        {"role": "tool", "tool_call_id": "call_2", "name": "run_tests", "content": '{"failed": 0}'}]


def test_render_without_a_tokenizer_picks_the_variant_of_the_served_model() -> None:
    big = RemoteEngine("http://h/v1", model="google/gemma-4-31B-it").render(USER)
    small = RemoteEngine("http://h/v1", model="google/gemma-4-E4B-it").render(USER)
    assert big == small + "<|channel>thought\n<channel|>" and small.endswith("<|turn>model\n")
    assert RemoteEngine("http://h/v1", model="gemma-4-26b-a4b").render(USER, thinking=True).endswith("<|turn>model\n")


def test_render_without_a_tokenizer_uses_the_gemma_4_template() -> None:
    from gemma_lsp.models.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    messages = [{"role": "system", "content": "Be brief."}] + USER
    expected = tokenizer.apply_chat_template(messages, tools=[READ_FILE], add_generation_prompt=True,
                                             enable_thinking=True, tokenize=False)
    assert RemoteEngine("http://h/v1").render(messages, [READ_FILE], thinking=True) == expected
    assert RemoteEngine("http://h/v1", tokenizer=tokenizer).render(messages, [READ_FILE], thinking=True) == expected


# ----- a real OpenAI-compatible server: `transformers serve` with the tiny Gemma 4 -----

@dataclass
class HFServer:
    url: str
    model: str
    port: int
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def hf_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HFServer]:
    pytest.importorskip("fastapi", reason="`transformers serve` needs transformers[serving]")
    pytest.importorskip("uvicorn", reason="`transformers serve` needs transformers[serving]")
    from gemma_lsp.models import tiny

    folder = tmp_path_factory.mktemp("hf-serve")
    target, _ = tiny.save(folder, text_only=True)  # the -it layout would want an image processor
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(folder / "hf-home"), OMP_NUM_THREADS="1",
               TRANSFORMERS_VERBOSITY="error")
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from transformers.cli.transformers import main; sys.exit(main())",
         "serve", str(target), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def healthy() -> bool:
        if process.poll() is not None:
            pytest.fail(f"transformers serve exited: {process.stderr.read()[-2000:]}")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200
        except httpx.TransportError:
            return False

    end = time.monotonic() + 120
    while time.monotonic() < end and not healthy():
        time.sleep(0.2)
    if not healthy():
        stop(process)
        pytest.fail("transformers serve did not become healthy")
    yield HFServer(url=f"http://127.0.0.1:{port}/v1", model=str(target), port=port, process=process)
    stop(process)


async def test_real_server_lists_its_model_and_rejects_others(hf_server: HFServer) -> None:
    engine = RemoteEngine(hf_server.url)
    try:
        await engine.start()
        assert engine.info.model == hf_server.model
        wrong = RemoteEngine(hf_server.url, model="google/gemma-4-31B-it")
        with pytest.raises(ModelUnavailable, match="does not serve") as caught:
            await wrong.start()
        assert hf_server.model in str(caught.value)
        # Skipping the check, the chat request itself fails with the server's reason.
        with pytest.raises(EngineError, match="HTTP 400.*pinned"):
            await collect_or_raise(wrong, GenerationRequest(messages=USER))
        await wrong.close()
    finally:
        await engine.close()


async def test_real_server_streams_greedy_text(hf_server: HFServer) -> None:
    engine = RemoteEngine(hf_server.url, model=hf_server.model)
    try:
        completion = await engine.generate(GenerationRequest(messages=USER, max_new_tokens=12))
        assert completion.text and completion.finish_reason == "length"
        assert completion.stats.new_tokens == 12 and completion.stats.prompt_tokens > 0
        # greedy: the stream is the same text in several pieces
        pieces = [p async for p in engine.stream(GenerationRequest(messages=USER, max_new_tokens=12))]
        assert len(pieces) > 1 and "".join(pieces) == completion.text
        # the server includes a stop string in its output; the engine cuts it
        stop_at = completion.text[len(completion.text) // 2:][:3]
        stopped = await engine.generate(GenerationRequest(messages=USER, max_new_tokens=12, stop=[stop_at]))
        assert stopped.text == completion.text[:completion.text.index(stop_at)]
    finally:
        await engine.close()


async def test_real_server_renders_tools_and_tool_history_sent_in_openai_form(hf_server: HFServer) -> None:
    engine = RemoteEngine(hf_server.url, model=hf_server.model)
    try:
        plain = await engine.generate(GenerationRequest(messages=USER, max_new_tokens=2))
        with_tools = await engine.generate(GenerationRequest(messages=USER, max_new_tokens=2, tools=[READ_FILE]))
        history = USER + [
            {"role": "assistant", "content": "",
             "tool_calls": [{"type": "function", "function": {"name": "read_file", "arguments": {"path": "a.py"}}}]},
            {"role": "tool", "name": "read_file", "content": "x = 1"},
        ]
        after_call = await engine.generate(GenerationRequest(messages=history, max_new_tokens=2, tools=[READ_FILE]))
        # the declarations, then the call and its response, reached the model's prompt
        assert plain.stats.prompt_tokens < with_tools.stats.prompt_tokens < after_call.stats.prompt_tokens
        # Exactly that prompt, except that `transformers serve` keeps a tool message's `tool_call_id` but
        # drops its `name`, so its template writes `response:tool` where ours writes `response:read_file`.
        served_history = history[:2] + [{"role": "tool", "content": "x = 1"}]
        prompt = engine.render(served_history, [READ_FILE])
        assert after_call.stats.prompt_tokens == len(engine_tokenizer().encode(prompt, add_special_tokens=False))
        # The debug loop's own shape (ids, string results): the server's template names the result
        # through the id, so the prompt it rendered is exactly ours. (`transformers serve` drops the
        # assistant's `reasoning` field, which vLLM passes to the template; so it is left out here.)
        session = USER + [shapes.assistant_calls([ToolCall("read_file", {"path": "a.py"})], ["call_1"]),
                          shapes.tool_result("call_1", "read_file", "x = 1")]
        served = await engine.generate(GenerationRequest(messages=session, max_new_tokens=2, tools=[READ_FILE]))
        prompt = engine.render(session, [READ_FILE])
        assert prompt.endswith("<|tool_response>response:read_file{value:<|\"|>x = 1<|\"|>}<tool_response|>")
        assert served.stats.prompt_tokens == len(engine_tokenizer().encode(prompt, add_special_tokens=False))
    finally:
        await engine.close()


def engine_tokenizer() -> Any:
    from gemma_lsp.models.tiny import build_tokenizer

    return build_tokenizer()


async def test_real_server_without_continuation_falls_back_to_stripping_the_prefill(hf_server: HFServer) -> None:
    engine = RemoteEngine(hf_server.url, model=hf_server.model)
    try:
        completion = await engine.generate(GenerationRequest(messages=USER, max_new_tokens=4, prefill="```python\n"))
        assert engine.prefill_mode == "strip"  # `transformers serve` answered 422 to the continuation fields
        assert completion.finish_reason == "length" and completion.stats.new_tokens == 4
    finally:
        await engine.close()


def established(process: psutil.Process, port: int, local: bool) -> list[Any]:
    side = "laddr" if local else "raddr"
    return [c for c in process.net_connections(kind="tcp")
            if c.status == psutil.CONN_ESTABLISHED and getattr(c, side) and getattr(c, side).port == port]


async def test_real_server_request_is_closed_on_cancel(hf_server: HFServer) -> None:
    engine = RemoteEngine(hf_server.url, model=hf_server.model)
    request = GenerationRequest(messages=USER, max_new_tokens=4000)
    me, server = psutil.Process(), psutil.Process(hf_server.process.pid)
    try:
        with pytest.raises(Cancelled):
            async for _ in engine.stream(request):
                assert established(me, hf_server.port, local=False), "the stream runs on a connection"
                request.cancel.cancel()
        assert established(me, hf_server.port, local=False) == []
        until(lambda: not established(server, hf_server.port, local=True), "the server to drop the connection")
    finally:
        await engine.close()
