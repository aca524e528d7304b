"""A small OpenAI-compatible chat server for the remote engine's tests, run as its own process.

It speaks HTTP/1.1 on raw sockets so it can misbehave exactly: streams are chunked server-sent
events like uvicorn's, and a scripted reply can drop the connection mid-body, stall, or answer an
error. Usage:

    python fake_openai_server.py [--api-key KEY] [--models a,b]

prints one line `PORTS <main> <spare>` and serves until killed. Everything binds to 127.0.0.1.

- `GET /v1/models`, `POST /v1/chat/completions` (streaming only): the OpenAI API. With `--api-key`,
  both answer 401 unless `Authorization: Bearer KEY` is sent.
- `POST /_script` `{"replies": [REPLY, ...]}`: queue the replies the next chat requests get, in order
  (afterwards: `{"content": ["Hello", " world"]}`). A REPLY is an object with any of
  `content` (list of text deltas), `reasoning` (list), `tool_calls` (list of `{"name", "fragments"}`,
  the argument JSON split into deltas), `finish` ("stop"), `usage` (bool, default true),
  `done` (send `data: [DONE]`, default true), `delay` (seconds before each chunk),
  `drop_after` (N: close the socket abruptly after N chunks), `stall_after` (N: send nothing more),
  `status` + `error` (answer an HTTP error instead), `error_after` (N) + `error` (an error event in
  place of chunk N), `json_body` (answer 200 with this JSON instead of a stream).
- `POST /_reset`: forget the queued replies and the log.
- `GET /_log`: every chat request so far: `{"body", "authorization", "outcome", "chunks"}`, where
  outcome is "completed", "dropped", "stalled", "client_closed" (the client went away first) or
  "pending".
- The spare port is bound but not listening, so connections to it are refused, until
  `POST /_listen`; it then serves the same API.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from typing import Any

DEFAULT_REPLY: dict[str, Any] = {"content": ["Hello", " world"]}


class FakeServer:
    def __init__(self, api_key: str | None, models: list[str]) -> None:
        self.api_key = api_key
        self.models = models
        self.script: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self.spare = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.spare.bind(("127.0.0.1", 0))

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in lines[1:] if ":" in h)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            await self.route(method, path, headers, body, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def route(self, method: str, path: str, headers: dict[str, str], body: bytes,
                    reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if path == "/_script" and method == "POST":
            self.script.extend(json.loads(body)["replies"])
            return await send_json(writer, 200, {"queued": len(self.script)})
        if path == "/_log":
            return await send_json(writer, 200, {"requests": self.log})
        if path == "/_reset" and method == "POST":
            self.script.clear()
            self.log.clear()
            return await send_json(writer, 200, {})
        if path == "/_listen" and method == "POST":
            await asyncio.start_server(self.handle, sock=self.spare)
            return await send_json(writer, 200, {"listening": True})
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            return await send_json(writer, 401, {"error": {"message": "Invalid API key", "type": "auth"}})
        if path == "/v1/models":
            data = [{"id": m, "object": "model", "owned_by": "test"} for m in self.models]
            return await send_json(writer, 200, {"object": "list", "data": data})
        if path == "/v1/chat/completions" and method == "POST":
            return await self.chat(json.loads(body), headers, reader, writer)
        await send_json(writer, 404, {"error": {"message": f"no route {method} {path}"}})

    async def chat(self, body: dict[str, Any], headers: dict[str, str],
                   reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        entry: dict[str, Any] = {"body": body, "authorization": headers.get("authorization"),
                                 "outcome": "pending", "chunks": 0}
        self.log.append(entry)
        reply = self.script.pop(0) if self.script else DEFAULT_REPLY
        if body.get("model") not in self.models:
            entry["outcome"] = "completed"
            return await send_json(writer, 404, {"error": {"message": f"The model `{body.get('model')}` "
                                                                      "does not exist."}})
        if "status" in reply:
            entry["outcome"] = "completed"
            return await send_json(writer, reply["status"], {"error": {"message": reply.get("error", "")}})
        if "json_body" in reply:  # a server that ignores `stream: true`
            entry["outcome"] = "completed"
            return await send_json(writer, 200, reply["json_body"])
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
                     b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n")
        # The request is fully read, so the next read returns b"" exactly when the client hangs up.
        client_gone = asyncio.ensure_future(reader.read(1))
        for index, chunk in enumerate(chunks_for(reply, body.get("model"))):
            if index == reply.get("drop_after"):
                entry["outcome"] = "dropped"
                writer.transport.abort()  # no terminating chunk: the body is cut short
                return
            if index == reply.get("error_after"):  # what `transformers serve` sends when generation fails
                chunk = f'data: {{"error": "{reply["error"]}"}}\n\n'.encode()
            if index == reply.get("stall_after"):
                entry["outcome"] = "stalled"
                await client_gone
                entry["outcome"] = "client_closed"
                return
            if reply.get("delay"):
                await asyncio.wait({client_gone}, timeout=reply["delay"])
            if client_gone.done():
                entry["outcome"] = "client_closed"
                return
            writer.write(encode_chunk(chunk))
            await writer.drain()
            entry["chunks"] = index + 1
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        entry["outcome"] = "completed"
        client_gone.cancel()


def chunks_for(reply: dict[str, Any], model: str | None) -> list[bytes]:
    """The SSE events of a scripted reply, in the shape vLLM sends them."""
    def event(delta: dict[str, Any] | None, finish: str | None = None, usage: dict | None = None) -> bytes:
        payload: dict[str, Any] = {"id": "chatcmpl-test", "object": "chat.completion.chunk",
                                   "created": int(time.time()), "model": model,
                                   "choices": [] if delta is None else
                                   [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if usage is not None:
            payload["usage"] = usage
        return f"data: {json.dumps(payload)}\n\n".encode()

    out = [event({"role": "assistant", "content": ""})]
    out += [event({"reasoning_content": text}) for text in reply.get("reasoning", [])]
    out += [event({"content": text}) for text in reply.get("content", [])]
    for index, call in enumerate(reply.get("tool_calls", [])):
        out.append(event({"tool_calls": [{"index": index, "id": f"call_{index}", "type": "function",
                                          "function": {"name": call["name"], "arguments": ""}}]}))
        out += [event({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
                for fragment in call["fragments"]]
    finish = reply.get("finish", "tool_calls" if reply.get("tool_calls") else "stop")
    out.append(event({}, finish))
    if reply.get("usage", True):
        out.append(event(None, usage={"prompt_tokens": 7, "completion_tokens": len(out) - 2,
                                      "total_tokens": 7 + len(out) - 2}))
    if reply.get("done", True):
        out.append(b"data: [DONE]\n\n")
    return out


def encode_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def send_json(writer: asyncio.StreamWriter, status: int, payload: Any) -> None:
    data = json.dumps(payload).encode()
    writer.write(f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n"
                 "connection: close\r\n\r\n".encode() + data)
    await writer.drain()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-key")
    parser.add_argument("--models", default="gemma-4-31b-it")
    args = parser.parse_args()
    fake = FakeServer(args.api_key, args.models.split(","))
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"PORTS {port} {fake.spare.getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
