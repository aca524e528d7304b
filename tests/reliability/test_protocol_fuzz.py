"""Hostile bytes on stdin (fixture: `raw_server`, one scripted-engine server for the module).

Every example sends something malformed, then a sentinel request: the server must answer the
malformed part with exactly the JSON-RPC errors the specification names (or nothing, for
notifications and stray responses), answer the sentinel, and keep serving real completions.
Example counts are bounded so the module runs in about a minute on two shared cores.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.protocol import default_converter

from tests.reliability.conftest import DOC_TEXT, DOC_URI, completion_params, probe
from tests.reliability.rpc import RawServer, encode, frame

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602

json_scalars = st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)

# Requests the server may be sent with random params. shutdown/exit/initialize are left to the
# lifecycle tests: they end or reset the session.
REQUEST_METHODS = ["textDocument/inlineCompletion", "workspace/executeCommand", "textDocument/hover",
                   "textDocument/codeAction", "codeAction/resolve", "gemma/unknown", "$/unknown"]
NOTIFICATION_METHODS = ["textDocument/didChange", "textDocument/didClose", "textDocument/didSave",
                        "$/cancelRequest", "$/setTrace", "window/workDoneProgress/cancel", "gemma/unknown"]
COMMANDS = ["gemma.status", "gemma.nope", "gemma.explain", "gemma.fix", "gemma.debug"]
_converter = default_converter()


def _params_structure(method: str, params: Any) -> bool:
    """Whether `params` is valid for `method`'s LSP type (what the server's converter will decide)."""
    message_type = types.METHOD_TO_TYPES.get(method, (None,))[0]
    if message_type is None:
        return True
    try:
        _converter.structure({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, message_type)
    except Exception:
        return False
    return True


def _unique(server: RawServer, msg_id: Any) -> Any:
    """Make a drawn id unique in the session, keeping its type (answers to async requests may
    arrive late, so ids must not repeat across examples)."""
    n = server.next_id()
    return f"{msg_id}-{n}" if isinstance(msg_id, str) else n


def _only_error(responses: list[dict], code: int, msg_id: Any = None) -> None:
    assert len(responses) == 1, responses
    assert responses[0]["id"] == msg_id, responses
    assert responses[0]["error"]["code"] == code, responses
    assert responses[0]["error"]["message"], responses


@FUZZ
@given(body=st.binary(max_size=200))
def test_bodies_that_are_not_json_get_a_parse_error(raw_server: RawServer, body: bytes):
    try:
        value = json.loads(body)
    except ValueError:
        _only_error(raw_server.exchange(frame(body)), PARSE_ERROR)
    else:  # the rare bytes that are JSON are still no JSON-RPC message
        assert not isinstance(value, dict)
        _only_error(raw_server.exchange(frame(body)), INVALID_REQUEST)


@FUZZ
@given(value=json_values)
def test_json_that_is_not_a_message_gets_invalid_request(raw_server: RawServer, value: Any):
    if isinstance(value, dict):
        value.pop("jsonrpc", None)  # without "jsonrpc": "2.0" no object is a JSON-RPC message
    _only_error(raw_server.exchange(frame(json.dumps(value).encode())), INVALID_REQUEST)


ids = st.integers(0, 2**31) | st.text(min_size=1, max_size=12).filter(lambda s: not s.startswith("sentinel"))
bad_ids = st.floats(allow_nan=False) | st.booleans() | st.lists(st.integers(), max_size=2) | st.dictionaries(
    st.text(max_size=3), st.integers(), max_size=2)


@FUZZ
@given(msg_id=ids, bad=st.sampled_from(["version", "method", "id", "params"]), junk=json_scalars | bad_ids,
       method=st.sampled_from(REQUEST_METHODS))
def test_malformed_envelopes_get_invalid_request(raw_server: RawServer, msg_id: Any, bad: str, junk: Any,
                                                 method: str):
    msg_id = _unique(raw_server, msg_id)
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": {}}
    answer_id: Any = msg_id
    if bad == "version":
        message["jsonrpc"] = junk if junk != "2.0" else "1.0"
    elif bad == "method":
        message["method"] = junk if not isinstance(junk, str) else 7
    elif bad == "id":
        message["id"] = junk if not isinstance(junk, int | str) or isinstance(junk, bool) else [junk]
        answer_id = None
    else:
        message["params"] = junk if junk is not None and not isinstance(junk, dict | list) else "text"
    _only_error(raw_server.exchange(encode(message), ids=(None, msg_id)), INVALID_REQUEST, answer_id)


@FUZZ
@given(msg_id=ids, method=st.sampled_from(REQUEST_METHODS),
       params=st.none() | json_values | st.fixed_dictionaries({
           "textDocument": st.fixed_dictionaries({"uri": st.sampled_from([DOC_URI, "file:///never/opened.py"])})
           | json_values,
           "position": st.fixed_dictionaries({"line": st.integers(-5, 2**32), "character": st.integers(-5, 2**32)})
           | json_values,
           "context": st.just({"triggerKind": 1}) | json_values,
           "command": st.sampled_from(COMMANDS) | json_values,
           "arguments": st.lists(st.fixed_dictionaries({}, optional={
               "uri": st.sampled_from([DOC_URI, "file:///never/opened.py"]) | json_values,
               "range": json_values, "position": json_values, "version": json_values,
               "diagnostic": json_values, "question": json_values}) | json_values, max_size=2) | json_values,
       }))
def test_requests_with_any_params_are_answered_once_and_correctly(raw_server: RawServer, msg_id: Any, method: str,
                                                                  params: Any):
    if params is not None and not isinstance(params, dict | list):
        return  # covered by the envelope test
    msg_id = _unique(raw_server, msg_id)
    raw_server.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    reply = raw_server.response(msg_id)
    assert raw_server.exchange(b"", ids=(None, msg_id)) == []  # answered exactly once
    if method not in _served_methods(raw_server):
        assert reply["error"]["code"] in (METHOD_NOT_FOUND, INVALID_PARAMS), reply
        return
    if not _params_structure(method, params):
        assert reply["error"]["code"] == INVALID_PARAMS, reply
        return
    # Well-typed params: a result, or an error that names a fault of the request (or a feature's clear
    # refusal: RequestFailed, ContentModified), never a crash (-32603).
    if "error" in reply:
        assert reply["error"]["code"] in (INVALID_PARAMS, INVALID_REQUEST, -32800, -32801, -32803), reply
        return
    if method == "textDocument/inlineCompletion":
        _assert_items_inside_the_document(reply["result"], params)


def _served_methods(server: RawServer) -> set[str]:
    """The request methods the server advertised in its capabilities (the others get -32601)."""
    caps = server.capabilities
    # An empty options object ({}) still means "provided".
    methods = {"workspace/executeCommand"} if "executeCommandProvider" in caps else set()
    if "inlineCompletionProvider" in caps:
        methods.add("textDocument/inlineCompletion")
    if caps.get("codeActionProvider") not in (None, False):
        methods.add("textDocument/codeAction")
        if isinstance(caps["codeActionProvider"], dict) and caps["codeActionProvider"].get("resolveProvider"):
            methods.add("codeAction/resolve")
    return methods


def _assert_items_inside_the_document(result: dict, params: dict) -> None:
    """Completions only for the open document, only at positions inside it."""
    items = result["items"]
    if params["textDocument"]["uri"] != DOC_URI or params["position"]["line"] > DOC_TEXT.count("\n"):
        assert items == [], (params, items)
    for item in items:
        assert item["range"]["start"] == params["position"], item


@FUZZ
@given(method=st.sampled_from(NOTIFICATION_METHODS), params=st.none() | json_values)
def test_notifications_with_any_params_get_no_answer(raw_server: RawServer, method: str, params: Any):
    if params is not None and not isinstance(params, dict | list):
        return
    if method == "textDocument/didClose" and isinstance(params, dict):
        params.pop("textDocument", None)  # keep the probe's document open
    assert raw_server.exchange(encode({"jsonrpc": "2.0", "method": method, "params": params})) == []


header_junk = st.lists(st.sampled_from([
    b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n", b"X-Junk: 1\r\n", b"Content-Length: -4\r\n",
    b"Content-Length: abc\r\n", b"content-length\r\n", b"\xff\xfe\r\n", b"Content-Length 12\r\n",
]) | st.binary(min_size=1, max_size=20).filter(lambda b: b"\n" not in b and b.strip() and b"length" not in b.lower()).map(
    lambda b: b + b"\r\n"), min_size=1, max_size=4)


@FUZZ
@given(lines=header_junk)
def test_header_blocks_without_a_length_get_a_parse_error_and_the_stream_recovers(raw_server: RawServer,
                                                                                   lines: list[bytes]):
    responses = raw_server.exchange(b"".join(lines) + b"\r\n")
    only_content_type = all(line.lower().startswith(b"content-type") for line in lines)
    if only_content_type:
        assert responses == []
    else:
        _only_error(responses, PARSE_ERROR)


@FUZZ
@given(extra=st.lists(st.sampled_from([b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n",
                                       b"content-length: {n}\r\n", b"CONTENT-LENGTH:{n}\r\n"]), max_size=2),
       msg_id=st.integers(0, 2**31))
def test_header_variants_with_a_valid_length_are_served(raw_server: RawServer, extra: list[bytes], msg_id: int):
    msg_id = _unique(raw_server, msg_id)
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "workspace/executeCommand",
                       "params": {"command": "gemma.status"}}).encode()
    headers = b"".join(line.replace(b"{n}", str(len(body)).encode()) for line in extra)
    responses = raw_server.exchange(headers + frame(body), ids=(None, msg_id))
    assert [r["id"] for r in responses] == [msg_id] and responses[0]["result"]["state"] == "ready"


def test_json_nested_deeper_than_the_stack_is_a_parse_error(raw_server: RawServer):
    depth = 200_000
    _only_error(raw_server.exchange(frame(b"[" * depth + b"]" * depth)), PARSE_ERROR)
    body = b'{"jsonrpc": "2.0", "id": 5, "method": "gemma/x", "params": ' + b"[" * depth + b"]" * depth + b"}"
    _only_error(raw_server.exchange(frame(body)), PARSE_ERROR)
    probe(raw_server)


def test_oversized_body_is_refused_without_buffering_and_the_stream_recovers(raw_server: RawServer):
    from gemma_lsp.lsp.protocol import MAX_MESSAGE_BYTES

    size = MAX_MESSAGE_BYTES + 1
    header = b"Content-Length: %d\r\n\r\n" % size
    raw_server.send_bytes(header)
    chunk = b" " * (1 << 20)
    for _ in range(size // len(chunk)):
        raw_server.send_bytes(chunk)
    responses = raw_server.exchange(b" " * (size % len(chunk)))
    _only_error(responses, INVALID_REQUEST)
    assert "exceeds" in responses[0]["error"]["message"]
    probe(raw_server)


def test_out_of_range_positions_and_unopened_documents(raw_server: RawServer):
    inside = raw_server.request("textDocument/inlineCompletion", completion_params(1, 4))
    assert inside["result"]["items"], inside
    for line, character in [(2, 0), (1, 10_000)]:  # the empty last line; past the end of a line
        reply = raw_server.request("textDocument/inlineCompletion", completion_params(line, character))
        assert "result" in reply, reply
    for line in (3, 10_000, 2**31 - 1):
        reply = raw_server.request("textDocument/inlineCompletion", completion_params(line, 0))
        assert reply["result"]["items"] == [], reply
    reply = raw_server.request("textDocument/inlineCompletion", completion_params(0, -1))
    assert reply["error"]["code"] == INVALID_PARAMS
    reply = raw_server.request("textDocument/inlineCompletion", completion_params(1, 4, "file:///never/opened.py"))
    assert reply["result"]["items"] == []
    probe(raw_server)
