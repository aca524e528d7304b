"""The remote engine: Gemma 4 served by an OpenAI-compatible server (vLLM, SGLang, llama.cpp's server,
`transformers serve`), so a team can share one large model, with its drafter, between many editors.

What crosses the wire is the OpenAI chat-completions API with server-sent events. What comes out of
`stream()` is the same text a local Gemma 4 model would produce: servers parse the model's tool calls
and thoughts into JSON fields (`tool_calls`, `reasoning_content`), and this module writes them back in
Gemma 4's native format (`<|tool_call>call:NAME{...}<tool_call|>`, `<|channel>thought\\n...<channel|>`)
so the agent layer parses local and remote output with one codec.

Failure policy, in one place:
- Connection problems before any output (refused, reset, dropped, 502/503/504) are retried
  `connect_retries` times with exponential backoff (`backoff * 2**n` seconds, capped at 8 s).
- Once output has arrived, a lost connection is an `EngineError`: a retry would repeat text the caller
  already has.
- A stalled server raises `EngineError` after `timeout` seconds without a byte; it is not retried.
- Cancelling the task, or setting `request.cancel`, closes the HTTP response within `CANCEL_POLL_S`;
  servers abort a generation whose client went away.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

from gemma_lsp.gemma4 import codec, template, tokens
from gemma_lsp.gemma4 import messages as shapes

from .base import (
    Cancelled,
    CancelToken,
    Completion,
    EngineError,
    EngineInfo,
    GenerationRequest,
    GenerationStats,
    Message,
    ModelUnavailable,
    ProgressCallback,
    StopCheck,
    SupersedeRegistry,
    ToolSpec,
    greedy_only,
    supersedable,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# How often a pending network read looks at the request's CancelToken (a threading flag, not awaitable).
CANCEL_POLL_S = 0.02
MAX_BACKOFF_S = 8.0
# Without a tokenizer, token counts are estimated: Gemma's tokenizer averages about 3.5 characters per
# token on source code.
CHARS_PER_TOKEN = 3.5
# HTTP statuses that mean "the server is there but not ready" (loading, restarting, behind a proxy).
RETRY_STATUSES = frozenset({502, 503, 504})
# Errors that mean the connection failed or broke: safe to retry while nothing was received.
CONNECTION_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError,
                     httpx.WriteError, httpx.PoolTimeout)

PREFILL_MODES = ("auto", "continue", "strip")



class RemoteEngine:
    """An `Engine` that forwards requests to an OpenAI-compatible server.

    `url` is the API base, e.g. `http://gpu-box:8000/v1` (a bare `http://host:port` gets `/v1`).
    `model` is the served model id; None takes the first one the server lists. `tokenizer` (a Hugging
    Face tokenizer of the served model) makes `count_tokens` and `render` exact; without it they are
    estimates (see each method).

    `prefill_mode` says how `GenerationRequest.prefill` reaches the server: "continue" sends it as the
    start of an assistant message with `continue_final_message: true, add_generation_prompt: false`
    (vLLM, SGLang); "strip" sends no prefill and removes it from the start of the reply if the model
    wrote it itself (for servers that reject those fields, e.g. `transformers serve`); "auto" tries
    "continue" and falls back to "strip" for good when the server rejects the fields.
    """

    def __init__(
        self,
        url: str,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        connect_retries: int = 3,
        tokenizer: Any = None,
        *,
        backoff: float = 0.5,
        prefill_mode: str = "auto",
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        if connect_retries < 0:
            raise ValueError(f"connect_retries must be >= 0, got {connect_retries}")
        if prefill_mode not in PREFILL_MODES:
            raise ValueError(f"prefill_mode must be one of {PREFILL_MODES}, got {prefill_mode!r}")
        self.base_url = normalize_base_url(url)
        self._supersede = SupersedeRegistry()
        self.requested_model = model
        self.api_key = api_key
        self.timeout = timeout
        self.connect_retries = connect_retries
        self.backoff = backoff
        self.tokenizer = tokenizer
        self.prefill_mode = prefill_mode
        self.served_models: list[str] = []
        self.info = EngineInfo(name="remote", model=model or "", device=self.base_url)
        self._client: httpx.AsyncClient | None = None
        # The backoff wait; a seam so tests can record the delays and act between attempts.
        self._sleep: Any = asyncio.sleep

    # ----- lifecycle -----

    async def start(self, progress: ProgressCallback | None = None) -> None:
        """Check that the server answers and serves the model. Raises ModelUnavailable with a fix."""
        if progress:
            progress(f"Connecting to {self.base_url}", None)
        self.served_models = await self._list_models()
        if self.requested_model is None:
            if not self.served_models:
                raise ModelUnavailable(f"The server at {self.base_url} lists no models.",
                                       fix="Start the server with a model, or set `remote.model`.")
            self.info.model = self.served_models[0]
        elif self.requested_model not in self.served_models:
            served = ", ".join(self.served_models) or "none"
            raise ModelUnavailable(
                f"The server at {self.base_url} does not serve model {self.requested_model!r}; "
                f"it serves: {served}.",
                fix="Set `remote.model` to one of the served ids (or leave it empty to use the first).")
        log.info("remote engine: %s serves %s", self.base_url, self.info.model)
        if progress:
            progress(f"Connected to {self.info.model} at {self.base_url}", 100)

    async def close(self) -> None:
        """Close the connection pool. In-flight streams fail; the engine can start again later."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ----- generation -----

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        """Yield the reply as it arrives, in Gemma 4's text format. Raises Cancelled / EngineError."""
        # aclosing: when the caller stops early, the HTTP response is closed now, not at garbage collection.
        async with aclosing(self._generate(request, _Outcome())) as pieces:
            async for piece in pieces:
                yield piece

    async def generate(self, request: GenerationRequest) -> Completion:
        """Run a request to the end. A CancelToken cancel returns the text so far as "cancelled"."""
        outcome = _Outcome()
        pieces: list[str] = []
        try:
            async with aclosing(self._generate(request, outcome)) as stream:
                async for piece in stream:
                    pieces.append(piece)
        except Cancelled:
            outcome.finish_reason = "cancelled"
        return Completion(text="".join(pieces), finish_reason=outcome.finish_reason, stats=outcome.stats)

    async def alternatives(self, request: GenerationRequest, n: int) -> list[Completion]:
        """Just the greedy completion. The OpenAI API's `n` samples every choice at one temperature:
        at 0 the choices are all the greedy one, above 0 none of them is, and branching needs the
        model's KV, which stays on the server."""
        return await greedy_only(self, request, n)

    def _generate(self, request: GenerationRequest, outcome: _Outcome) -> AsyncGenerator[str, None]:
        """Like every engine, a newer request with the same `supersede_key` cancels this one."""
        return supersedable(self._supersede, request, self._generate_unsuperseded(request, outcome))

    async def _generate_unsuperseded(self, request: GenerationRequest, outcome: _Outcome) -> AsyncGenerator[str, None]:
        """The request loop: send, read events, retry on connection loss before any output."""
        stats = outcome.stats
        started = time.monotonic()
        failures = 0
        while True:
            _raise_if_cancelled(request.cancel)
            continuation = bool(request.prefill) and self.prefill_mode != "strip"
            shaper = _OutputShaper(request.stop, request.stop_check,
                                   drop_prefix="" if continuation else request.prefill)
            assembler = _DeltaAssembler()
            received = False
            response: httpx.Response | None = None
            try:
                response = await self._open(request, continuation)
                if response.status_code != 200:
                    error = await self._error_from(response, request.cancel)
                    if continuation and self.prefill_mode == "auto" and _rejects_continuation(error):
                        log.info("remote engine: %s does not continue assistant messages; prefill is "
                                 "stripped from replies instead", self.base_url)
                        self.prefill_mode = "strip"
                        continue
                    if response.status_code in RETRY_STATUSES:
                        raise _Retryable(str(error))
                    raise error
                content_type = response.headers.get("content-type", "")
                if not content_type.startswith("text/event-stream"):
                    raise EngineError(f"The model server at {self.base_url} did not stream its reply "
                                      f"(content-type {content_type or 'missing'}); is it OpenAI-compatible?")
                async for event in _sse_events(response, request.cancel):
                    received = self._read_event(event, assembler, outcome) or received
                    text = assembler.take()
                    if not text:
                        continue
                    if not stats.first_token_seconds:
                        stats.first_token_seconds = time.monotonic() - started
                    out, stopped = shaper.feed(text)
                    if out:
                        yield out
                    if stopped:
                        outcome.finish_reason = "stop"
                        return
                if not outcome.server_finished:
                    raise _Retryable("the server closed the stream before the reply was finished")
                assembler.finish()
                out, stopped = shaper.feed(assembler.take())
                out += "" if stopped else shaper.flush()
                if out:
                    yield out
                outcome.finish_reason = "stop" if stopped else outcome.server_finish_reason
                return
            except (_Retryable, *CONNECTION_ERRORS) as exc:
                if received:
                    raise EngineError(
                        f"The connection to {self.base_url} was lost in the middle of the reply ({exc}); "
                        "not retried, since the text already shown would be repeated.") from exc
                failures += 1
                if failures > self.connect_retries:
                    raise EngineError(
                        f"Cannot reach the model server at {self.base_url} after {failures} attempts: "
                        f"{_describe(exc)}. Check that it is running and that `remote.url` is right."
                    ) from exc
                delay = min(self.backoff * 2 ** (failures - 1), MAX_BACKOFF_S)
                log.warning("remote engine: %s (%s); retry %d/%d in %.2f s", self.base_url, _describe(exc),
                            failures, self.connect_retries, delay)
                await _unless_cancelled(self._sleep(delay), request.cancel)
            except httpx.TimeoutException as exc:
                raise EngineError(f"The model server at {self.base_url} sent nothing for {self.timeout:g} s "
                                  f"({type(exc).__name__}); it may be overloaded.") from exc
            finally:
                if response is not None:
                    await response.aclose()
                stats.seconds = time.monotonic() - started
                stats.new_tokens = stats.new_tokens or outcome.deltas

    def _read_event(self, event: dict[str, Any], assembler: _DeltaAssembler, outcome: _Outcome) -> bool:
        """Fold one SSE chunk into the assembler and outcome; True when it carried reply text."""
        if "error" in event:
            error = event["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise EngineError(f"The model server reported an error mid-stream: {message}")
        usage = event.get("usage")
        if isinstance(usage, dict):
            outcome.stats.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            outcome.stats.new_tokens = int(usage.get("completion_tokens") or 0)
            cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens")
            outcome.stats.reused_prompt_tokens = int(cached or 0)
        carried = False
        for choice in event.get("choices") or []:
            if assembler.feed(choice.get("delta") or {}):
                carried = True
                outcome.deltas += 1
            reason = choice.get("finish_reason")
            if reason:
                outcome.server_finished = True
                outcome.server_finish_reason = _FINISH_REASONS.get(reason, "stop")
        if assembler.made_tool_calls:
            outcome.server_finish_reason = "tool_calls"
        return carried

    async def _open(self, request: GenerationRequest, continuation: bool) -> httpx.Response:
        """Post the request and return the streaming response once its headers are in."""
        client = self._http()
        http_request = client.build_request("POST", "chat/completions", json=self.request_body(request, continuation))
        sending = asyncio.ensure_future(client.send(http_request, stream=True))
        try:
            return await _unless_cancelled(sending, request.cancel)
        except BaseException:
            # Cancelled just as the headers arrived: close the response nobody will read.
            if sending.done() and not sending.cancelled() and sending.exception() is None:
                await sending.result().aclose()
            raise

    def request_body(self, request: GenerationRequest, continuation: bool) -> dict[str, Any]:
        """The JSON body of a streaming chat-completions call for `request`."""
        messages = shapes.to_openai(request.messages)
        body: dict[str, Any] = {
            "model": self.info.model or self.requested_model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": request.max_new_tokens,
            "temperature": 0,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.tools:
            body["tools"] = [dict(tool) for tool in request.tools]
        if request.thinking:
            body["chat_template_kwargs"] = {"enable_thinking": True}
        if continuation:
            messages.append({"role": "assistant", "content": request.prefill})
            body["continue_final_message"] = True
            body["add_generation_prompt"] = False
        return body

    # ----- models and errors -----

    async def _list_models(self) -> list[str]:
        failures = 0
        while True:
            try:
                response = await self._http().get("models")
                if response.status_code not in RETRY_STATUSES:
                    break
                last: Exception = _Retryable(f"HTTP {response.status_code}")
            except (*CONNECTION_ERRORS, httpx.TimeoutException) as exc:
                last = exc
            failures += 1
            if failures > self.connect_retries:
                raise ModelUnavailable(
                    f"Cannot reach the model server at {self.base_url}: {_describe(last)}.",
                    fix="Start the server (e.g. `vllm serve ...`) or correct `remote.url` "
                        "(the API base, usually ending in /v1).") from last
            await self._sleep(min(self.backoff * 2 ** (failures - 1), MAX_BACKOFF_S))
        if response.status_code in (401, 403):
            raise _auth_error(self.base_url, response.status_code, _error_text(response))
        if response.status_code == 404:
            raise ModelUnavailable(f"{self.base_url}/models was not found (HTTP 404): this is not the base "
                                   "of an OpenAI-compatible API.",
                                   fix="Set `remote.url` to the API base, usually ending in /v1.")
        if response.status_code != 200:
            raise ModelUnavailable(f"The server at {self.base_url} answered HTTP {response.status_code} "
                                   f"when asked for its models: {_error_text(response)}",
                                   fix="Check the server's log.")
        try:
            return [str(entry["id"]) for entry in response.json()["data"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelUnavailable(f"{self.base_url}/models did not return an OpenAI model list.",
                                   fix="Set `remote.url` to an OpenAI-compatible API base.") from exc

    async def _error_from(self, response: httpx.Response, cancel: CancelToken) -> EngineError:
        await _unless_cancelled(response.aread(), cancel)
        text = _error_text(response)
        status = response.status_code
        if status in (401, 403):
            return _auth_error(self.base_url, status, text)
        if status == 404 and "model" in text.lower():
            return ModelUnavailable(f"The server at {self.base_url} does not serve {self.info.model!r}: {text}",
                                    fix="Set `remote.model` to a served model id.")
        return EngineError(f"The model server at {self.base_url} rejected the request (HTTP {status}): {text}")

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.AsyncClient(base_url=self.base_url + "/", headers=headers,
                                             timeout=httpx.Timeout(self.timeout))
        return self._client

    # ----- tokens and prompts -----

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes: exact with a tokenizer, else an estimate of one per 3.5 characters."""
        if self.tokenizer is not None:
            return len(self.tokenizer.encode(text, add_special_tokens=False))
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def render(self, messages: list[Message], tools: Sequence[ToolSpec] | None = None,
               thinking: bool = False) -> str:
        """The prompt for these messages: the tokenizer's template, else gemma-lsp's Gemma 4 template in
        the served model's variant (26B/31B names get the big one). The server renders with the
        checkpoint's own template, which for the project's messages renders the same text."""
        if self.tokenizer is not None:
            return template.render_with(self.tokenizer, messages, tools, thinking)
        variant = template.variant_for(self.info.model or self.requested_model)
        return template.render(messages, tools, thinking=thinking, variant=variant)


def from_settings(remote: Any, tokenizer: Any = None, environ: Mapping[str, str] = os.environ) -> RemoteEngine:
    """A RemoteEngine for the `remote.*` settings (`config.RemoteSettings`: url, model, api_key_env,
    timeout_seconds). The key is read from the environment variable the settings name, never from the
    settings themselves; an unset variable means no key (servers started without `--api-key`)."""
    return RemoteEngine(remote.url, model=remote.model or None, api_key=environ.get(remote.api_key_env) or None,
                        timeout=float(remote.timeout_seconds), tokenizer=tokenizer)


# ----- the reply: deltas to Gemma 4 text, stop strings, early stops -----

_FINISH_REASONS = {"stop": "stop", "eos": "stop", "length": "length", "tool_calls": "tool_calls",
                   "function_call": "tool_calls"}


@dataclass
class _Outcome:
    stats: GenerationStats = field(default_factory=GenerationStats)
    finish_reason: str = "stop"
    server_finished: bool = False
    server_finish_reason: str = "stop"
    deltas: int = 0  # chunks that carried reply text: the token count when the server sends no usage


@dataclass
class _PendingCall:
    name: str = ""
    arguments: str = ""


class _DeltaAssembler:
    """Turns OpenAI chat deltas back into the text Gemma 4 generated.

    Thoughts (`reasoning_content`, or `reasoning` in newer vLLM) are wrapped in the thought channel;
    tool calls, whose arguments arrive as JSON fragments, are rendered once complete (when the next
    call starts, or at the end).
    """

    def __init__(self) -> None:
        self._out: list[str] = []
        self._in_thought = False
        self._calls: dict[int, _PendingCall] = {}
        self._rendered = 0  # tool-call indexes below this are already written out
        self.made_tool_calls = False

    def feed(self, delta: dict[str, Any]) -> bool:
        """Take one delta; True when it carried any reply (thought, text or tool call)."""
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        content = delta.get("content")
        calls = delta.get("tool_calls") or []
        if reasoning:
            if not self._in_thought:
                self._out.append(tokens.THOUGHT_OPEN)
                self._in_thought = True
            self._out.append(reasoning)
        if content or calls:
            self._close_thought()
        if content:
            self._flush_calls(upto=len(self._calls) + self._rendered)
            self._out.append(content)
        for call in calls:
            index = int(call.get("index", len(self._calls) + self._rendered))
            self._flush_calls(upto=index)
            pending = self._calls.setdefault(index, _PendingCall())
            function = call.get("function") or {}
            pending.name += function.get("name") or ""
            arguments = function.get("arguments")
            if isinstance(arguments, dict):  # some servers send an object rather than a JSON string
                arguments = json.dumps(arguments)
            pending.arguments += arguments or ""
            self.made_tool_calls = True
        return bool(reasoning or content or calls)

    def finish(self) -> None:
        """The stream ended: close an open thought and write out the remaining tool calls."""
        self._close_thought()
        self._flush_calls(upto=max(self._calls, default=-1) + 1)

    def take(self) -> str:
        text = "".join(self._out)
        self._out.clear()
        return text

    def _close_thought(self) -> None:
        if self._in_thought:
            self._out.append(tokens.CHANNEL_CLOSE)
            self._in_thought = False

    def _flush_calls(self, upto: int) -> None:
        for index in sorted(i for i in self._calls if i < upto):
            call = self._calls.pop(index)
            self._out.append(render_tool_call(call.name, call.arguments))
            self._rendered = max(self._rendered, index + 1)


class _OutputShaper:
    """Applies stop strings, `stop_check` and prefill stripping to the reply as it streams.

    Text that could be the start of a stop string is held back until it is known not to be one, so a
    stop string never reaches the caller (servers differ on whether they include it). `stop_check` sees
    the text released so far and may cut it. With `drop_prefix`, a reply that starts with the prefill
    has it removed (the caller treats the prefill as already written).
    """

    def __init__(self, stop: Sequence[str], stop_check: StopCheck | None, drop_prefix: str = "") -> None:
        self.stop = [s for s in stop if s]
        self.stop_check = stop_check
        self.prefix = drop_prefix
        self.text = ""
        self.emitted = 0

    def feed(self, piece: str) -> tuple[str, bool]:
        """Add reply text; return (text to give the caller now, whether to stop)."""
        self.text += piece
        if self.prefix:
            if len(self.text) < len(self.prefix) and self.prefix.startswith(self.text):
                return "", False
            if self.text.startswith(self.prefix):
                self.text = self.text[len(self.prefix):]
            self.prefix = ""
        return self._release(final=False)

    def flush(self) -> str:
        """The reply is complete: release what was held back (still subject to stop_check)."""
        if self.prefix:  # the whole reply was a prefix of the prefill
            self.text, self.prefix = "", ""
        out, _ = self._release(final=True)
        return out

    def _release(self, final: bool) -> tuple[str, bool]:
        cut, stopped = len(self.text), False
        hits = [i for i in (self.text.find(s) for s in self.stop) if i >= 0]
        if hits:
            cut, stopped = min(hits), True
        elif not final:
            cut -= self._held_back()
        if self.stop_check is not None and cut > self.emitted:
            index = self.stop_check(self.text[:cut])
            if index is not None:
                cut, stopped = max(self.emitted, min(index, cut)), True
        out = self.text[self.emitted:cut]
        self.emitted = max(self.emitted, cut)
        return out, stopped

    def _held_back(self) -> int:
        """Length of the longest tail of the text that is a proper prefix of a stop string."""
        longest = 0
        for stop in self.stop:
            for n in range(min(len(stop) - 1, len(self.text)), longest, -1):
                if self.text.endswith(stop[:n]):
                    longest = n
                    break
        return longest


# ----- Gemma 4 tool-call text -----

def render_tool_call(name: str, arguments: str | dict[str, Any]) -> str:
    """`<|tool_call>call:NAME{...}<tool_call|>` for a call whose arguments are JSON text or an object,
    rendered by the Gemma 4 codec so remote and local output parse the same way.

    Arguments the codec cannot carry (not a JSON object, invalid names or values) are passed through
    verbatim, so the codec reports the invalid call to the model instead of this layer hiding it.
    """
    parsed: Any = arguments
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            parsed = None
    if isinstance(parsed, dict):
        try:
            return codec.render_tool_call(codec.ToolCall(name, parsed))
        except codec.CodecError as error:
            log.warning("remote engine: tool call %s cannot be rendered: %s", name, error)
    else:
        log.warning("remote engine: tool call %s has arguments that are not a JSON object: %r",
                    name, str(arguments)[:200])
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return f"{tokens.CALL_OPEN}call:{name}{raw}{tokens.CALL_CLOSE}"


# ----- helpers -----

def normalize_base_url(url: str) -> str:
    """`http://host:8000/v1/` -> `http://host:8000/v1`; a URL without a path gets `/v1`."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"remote URL must look like http://host:port/v1, got {url!r}")
    path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class _Retryable(Exception):
    """The server could not take or finish the request, and nothing was received yet."""


def _raise_if_cancelled(cancel: CancelToken) -> None:
    if cancel.cancelled:
        raise Cancelled(cancel.reason or "cancelled")


async def _unless_cancelled(awaitable: Awaitable[T], cancel: CancelToken) -> T:
    """Await `awaitable`, abandoning it (and raising Cancelled) as soon as `cancel` is set."""
    task = asyncio.ensure_future(awaitable)
    try:
        while True:
            _raise_if_cancelled(cancel)
            done, _ = await asyncio.wait({task}, timeout=CANCEL_POLL_S)
            if done:
                return task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved


async def _sse_events(response: httpx.Response, cancel: CancelToken) -> AsyncIterator[dict[str, Any]]:
    """The JSON payloads of a server-sent event stream, until `[DONE]` or the end of the body."""
    lines = response.aiter_lines()
    data: list[str] = []
    while True:
        try:
            line = await _unless_cancelled(anext(lines), cancel)
        except StopAsyncIteration:
            return  # an unterminated last event is dropped, as the SSE spec says
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
            continue
        if line or not data:  # comments (":"), other fields, and blank keep-alive lines
            continue
        payload, data = "\n".join(data), []
        if payload.strip() == "[DONE]":
            return
        try:
            event = json.loads(payload)
        except ValueError as exc:
            raise EngineError(f"The model server sent an event that is not JSON: {payload[:200]!r}") from exc
        if isinstance(event, dict):
            yield event


def _rejects_continuation(error: EngineError) -> bool:
    """Whether a 4xx answer is the server refusing to continue an assistant message: unknown fields
    (`transformers serve`: 422 "Unexpected fields"), or a template that cannot end on an assistant
    message (llama.cpp with some templates: 400 "... assistant ... prefill ...")."""
    text = str(error)
    signs = ("continue_final_message", "add_generation_prompt", "assistant", "prefill")
    return "HTTP 4" in text and any(sign in text.lower() for sign in signs)


def _auth_error(base_url: str, status: int, detail: str) -> ModelUnavailable:
    return ModelUnavailable(
        f"The model server at {base_url} refused the API key (HTTP {status}): {detail}",
        fix="Put the server's key in the environment variable named by `remote.apiKeyEnv` "
            "(default GEMMA_LSP_API_KEY) before starting the editor.")


def _error_text(response: httpx.Response) -> str:
    """The message of an error body in the OpenAI, FastAPI or llama.cpp shapes, else the raw text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return str(error)[:500]
    return json.dumps(body)[:500]


def _describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
