"""A day of typing, compressed: replays realistic editing against the real server and reports health.

    python -m gemma_lsp.bench soak --minutes 10 [--model tiny | --script FILE | --scripted] [--json FILE]
    python -m gemma_lsp.bench.soak ...   (the same; options: add_arguments here, bench/__main__.py)

The server runs as a subprocess on stdio, exactly as an editor starts it. A simulated editor types
code into several files of a throwaway workspace in bursts (keystrokes 30-150 ms apart, pauses to
think), sends each keystroke as an incremental didChange, asks for an inline completion once typing
pauses for the debounce (as VS Code and Neovim 0.12 do), cancels a completion still running when the
next key comes ($/cancelRequest), accepts some completions, now and then asks for code actions (and
resolves or runs one, never applying its edit), and now and then starts an ask-to-debug session that
runs in the background while typing goes on. `--scripted` swaps the model for canned replies whose
debug sessions call real tools (run_tests starts sandboxed processes).

The JSON report: `served`, `cancelled`, `failed` requests (and `refused`: a feature's clear refusal,
such as a fix that does not apply); completion latency `p50_ms`/`p95_ms`
(served completions only); the server's resident memory, open file descriptors and threads at the
start (after a warm-up of a quarter of the run, so lazily created pools and the model's working set
are counted) and at the end; `orphans`, processes of
the server's tree (sandbox children included) still alive after `exit` (or after SIGTERM or SIGKILL,
with `--stop`); `exit_code`; and
`workspace_modified`, files of the workspace whose bytes changed (nothing may write to them).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

import psutil

DEBOUNCE_S = 0.15
REQUEST_TIMEOUT_S = 120.0
CANCELLED = -32800
# Clear refusals a feature gives by design: the model's fix did not apply (RequestFailed), the
# document changed under the request (ContentModified). The user is told; nothing went wrong.
REFUSALS = (-32803, -32801)

# `--scripted`: canned Gemma 4 replies for every feature, so a soak runs fast and deterministically
# and its debug sessions really call tools (run_tests starts sandboxed processes).
SCRIPT = {
    "completion": ["total = 0\n```", "return total\n```", "values.sort()\n```"],
    "explain": ["`weight` is never defined in this scope: pass it in or give it a default."],
    "fix": ["```python\nimport math\n```\n"],
    "debug": ["<|tool_call>call:run_tests{}<tool_call|>",
              'Let me read the code.<|tool_call>call:read_file{path:<|"|>stats.py<|"|>}<tool_call|>',
              "**What is wrong:** nothing I can see; the tests pass.<turn|>"] * 50,
}
TEST_FILE = ("from stats import variance\n\n\ndef test_variance():\n    assert variance([1, 1]) == 0\n")

# What the simulated user types: lines of code per language (ASCII and not, to exercise UTF-16).
SNIPPETS = {
    ".py": ["    total = 0\n", "    for value in values:\n", "        total += value * weight\n",
            "    return total / max(len(values), 1)\n", "def mean(values, weight=1):\n",
            "    # π ≈ 3.14159, café 😀\n", "    if not values:\n", "        raise ValueError('empty')\n"],
    ".js": ["function sum(xs) {\n", "  return xs.reduce((a, b) => a + b, 0);\n", "}\n",
            "const names = users.map((u) => u.name);\n", "// naïve check 🚀\n"],
    ".go": ["func Max(a, b int) int {\n", "\tif a > b {\n", "\t\treturn a\n", "\t}\n", "\treturn b\n", "}\n"],
}
SEED_FILES = {
    "stats.py": "import math\n\n\ndef variance(values):\n    m = sum(values) / len(values)\n"
                "    return sum((v - m) ** 2 for v in values) / len(values)\n\n",
    "app.js": "'use strict';\n\nfunction greet(name) {\n  return `hello ${name}`;\n}\n\n",
    "util.go": "package util\n\nimport \"strings\"\n\nfunc Upper(s string) string {\n\treturn strings.ToUpper(s)\n}\n\n",
    "notes.py": "# scratch file\n\n",
}
LANGUAGE = {".py": "python", ".js": "javascript", ".go": "go"}
# Files stay between these sizes: the user types, and now and then deletes a block (as real editing
# does), so prompt sizes reach a steady state and memory figures compare like with like.
MIN_LINES, MAX_LINES = 35, 45


def seed_text(name: str, head: str) -> str:
    """A sample file of about MIN_LINES lines: `head`, then code lines of its language."""
    snippets = itertools.cycle(SNIPPETS.get(Path(name).suffix, SNIPPETS[".py"]))
    text = head
    while text.count("\n") < MIN_LINES:
        text += next(snippets)
    return text


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class Client:
    """JSON-RPC over the server's stdio: requests return Futures; a thread reads the responses."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path, stderr: Any) -> None:
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                     env=env, cwd=cwd)
        self._ids = itertools.count(1)
        self._futures: dict[int, Future] = {}
        self._lock = threading.Lock()
        self.notifications: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = 0
            while (line := out.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                break
            message = json.loads(out.read(length))
            if "method" in message and "id" in message:  # the server asks (progress, configuration)
                self._write({"jsonrpc": "2.0", "id": message["id"], "result": None})
            elif "method" in message:
                self.notifications.append(message)
            else:
                with self._lock:
                    future = self._futures.pop(message.get("id"), None)
                if future is not None:
                    future.received = time.monotonic()  # type: ignore[attr-defined]
                    future.set_result(message)
        with self._lock:
            for future in self._futures.values():
                future.set_exception(EOFError("the server closed its output"))

    def _write(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            self.proc.stdin.flush()

    def request(self, method: str, params: Any = None) -> tuple[int, Future]:
        msg_id = next(self._ids)
        future: Future = Future()
        with self._lock:
            self._futures[msg_id] = future
        self._write({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return msg_id, future

    def call(self, method: str, params: Any = None, timeout: float = REQUEST_TIMEOUT_S) -> dict[str, Any]:
        return self.request(method, params)[1].result(timeout)

    def notify(self, method: str, params: Any = None) -> None:
        self._write({"jsonrpc": "2.0", "method": method, "params": params})

    def status_states(self) -> list[str]:
        return [n["params"]["state"] for n in list(self.notifications) if n.get("method") == "gemma/status"]


class Tally:
    """Outcomes of the requests the editor sent."""

    def __init__(self) -> None:
        self.served = self.cancelled = self.refused = self.failed = 0
        self.latencies_ms: list[float] = []
        self.errors: list[str] = []
        self.by_kind: dict[str, int] = {}

    def settle(self, kind: str, future: Future, sent: float, timeout: float = REQUEST_TIMEOUT_S) -> None:
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
        try:
            reply = future.result(timeout)
        except (FutureTimeout, EOFError) as error:
            self.failed += 1
            self.errors.append(f"{kind}: no answer ({type(error).__name__})")
            return
        if "error" in reply:
            if reply["error"].get("code") == CANCELLED:
                self.cancelled += 1
            elif reply["error"].get("code") in REFUSALS:
                self.refused += 1
            else:
                self.failed += 1
                self.errors.append(f"{kind}: {reply['error']}")
            return
        self.served += 1
        if kind == "completion":
            self.latencies_ms.append((getattr(future, "received", time.monotonic()) - sent) * 1000)


class Editor:
    """A user typing into open documents, with an editor's debounce and cancellation."""

    def __init__(self, client: Client, workspace: Path, rng: random.Random, tally: Tally,
                 capabilities: dict[str, Any]) -> None:
        self.client, self.workspace, self.rng, self.tally = client, workspace, rng, tally
        self.caps = capabilities
        self.docs: dict[str, list[str]] = {}  # uri -> lines (each without its newline)
        self.versions: dict[str, int] = {}
        self.pending: tuple[str, int, Future, float] | None = None  # kind, id, future, sent
        self.debug: tuple[str, int, Future, float] | None = None  # runs while the user types on
        commands = (capabilities.get("executeCommandProvider") or {}).get("commands") or []
        self.can_debug = "gemma.debug" in commands

    # ----- documents ------------------------------------------------------------------------
    def open(self, path: Path) -> str:
        uri = path.as_uri()
        if uri not in self.docs:
            text = path.read_text("utf-8")
            self.docs[uri], self.versions[uri] = text.split("\n"), 1
            self.client.notify("textDocument/didOpen", {"textDocument": {
                "uri": uri, "languageId": LANGUAGE.get(path.suffix, "plaintext"), "version": 1, "text": text}})
        return uri

    def close(self, uri: str) -> None:
        self.client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        del self.docs[uri]

    def delete_lines(self, uri: str, start: int, end: int) -> None:
        """Delete lines start..end-1 (a block the user selected and removed)."""
        self.versions[uri] += 1
        self.client.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": self.versions[uri]},
            "contentChanges": [{"range": {"start": {"line": start, "character": 0},
                                          "end": {"line": end, "character": 0}}, "text": ""}]})
        del self.docs[uri][start:end]

    def insert(self, uri: str, line: int, col: int, text: str) -> tuple[int, int]:
        """Insert `text` at (line, col in characters) as an incremental didChange; return the new cursor."""
        lines = self.docs[uri]
        head, tail = lines[line][:col], lines[line][col:]
        position = {"line": line, "character": utf16_len(head)}
        self.versions[uri] += 1
        self.client.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": self.versions[uri]},
            "contentChanges": [{"range": {"start": position, "end": position}, "text": text}]})
        pieces = (head + text + tail).split("\n")
        lines[line:line + 1] = pieces
        new_line = line + len(pieces) - 1
        return new_line, len(pieces[-1]) - len(tail)

    # ----- requests -------------------------------------------------------------------------
    def supersede(self) -> None:
        """A key was pressed: a completion still running is stale, cancel it as editors do."""
        if self.pending is None:
            return
        kind, msg_id, future, sent = self.pending
        if not future.done():
            self.client.notify("$/cancelRequest", {"id": msg_id})
        self.tally.settle(kind, future, sent)
        self.pending = None

    def complete(self, uri: str, line: int, col: int) -> None:
        character = utf16_len(self.docs[uri][line][:col])
        msg_id, future = self.client.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": uri}, "position": {"line": line, "character": character},
            "context": {"triggerKind": 2}})
        self.pending = ("completion", msg_id, future, time.monotonic())

    def wait_pending(self) -> dict[str, Any] | None:
        if self.pending is None:
            return None
        kind, _, future, sent = self.pending
        self.tally.settle(kind, future, sent)
        self.pending = None
        return future.result() if future.done() and not future.exception() else None

    def code_actions(self, uri: str, line: int) -> None:
        if not self.caps.get("codeActionProvider"):
            return
        text = self.docs[uri][line]
        rng = {"start": {"line": line, "character": 0}, "end": {"line": line, "character": utf16_len(text)}}
        diagnostic = {"range": rng, "message": "NameError: name 'weight' is not defined", "severity": 1,
                      "source": "soak"}
        sent = time.monotonic()
        _, future = self.client.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": rng, "context": {"diagnostics": [diagnostic]}})
        self.tally.settle("codeAction", future, sent)
        reply = future.result() if future.done() else {}
        actions = reply.get("result") or []
        if actions and self.rng.random() < 0.5:
            self._run_action(self.rng.choice(actions))

    def _run_action(self, action: dict[str, Any]) -> None:
        """What an editor does when the user picks an action: resolve it, run its command (never
        apply its edit here: the workspace must stay untouched by the server)."""
        if "command" not in action and "edit" not in action and self.caps.get("codeActionProvider", {}) \
                and isinstance(self.caps["codeActionProvider"], dict) \
                and self.caps["codeActionProvider"].get("resolveProvider"):
            sent = time.monotonic()
            _, future = self.client.request("codeAction/resolve", action)
            self.tally.settle("codeAction/resolve", future, sent)
            action = (future.result() if future.done() else {}).get("result") or action
        command = action.get("command")
        if isinstance(command, dict) and command.get("command"):
            sent = time.monotonic()
            _, future = self.client.request("workspace/executeCommand", {
                "command": command["command"], "arguments": command.get("arguments") or []})
            self.tally.settle(f"command:{command['command']}", future, sent)

    def ask_to_debug(self, uri: str, line: int) -> None:
        """Start a debug session in the background (a new one only once the last has ended)."""
        if not self.can_debug or (self.debug is not None and not self.debug[2].done()):
            return
        self.finish_debug()
        msg_id, future = self.client.request("workspace/executeCommand", {"command": "gemma.debug", "arguments": [{
            "uri": uri, "position": {"line": line, "character": 0}, "question": "Why do the tests fail?"}]})
        self.debug = ("command:gemma.debug", msg_id, future, time.monotonic())

    def finish_debug(self) -> None:
        if self.debug is not None:
            kind, _, future, sent = self.debug
            self.tally.settle(kind, future, sent)
            self.debug = None

    # ----- the user -------------------------------------------------------------------------
    def burst(self, path: Path) -> None:
        """Type one or two snippets at the end of a random line of `path`, completing on pauses."""
        uri = self.open(path)
        lines = self.docs[uri]
        line = self.rng.randrange(len(lines))
        col = len(lines[line])
        line, col = self.insert(uri, line, col, "\n")
        snippets = SNIPPETS.get(path.suffix, SNIPPETS[".py"])
        text = "".join(self.rng.choice(snippets) for _ in range(self.rng.randint(1, 2))).rstrip("\n")
        for ch in text:
            self.supersede()
            line, col = self.insert(uri, line, col, ch)
            gap = self.rng.choice([0.03, 0.05, 0.08, 0.12, 0.15]) if self.rng.random() < 0.85 else \
                self.rng.uniform(0.3, 1.0)
            if gap > DEBOUNCE_S:
                time.sleep(DEBOUNCE_S)
                self.complete(uri, line, col)
                time.sleep(gap - DEBOUNCE_S)
            else:
                time.sleep(gap)
        # The user stops and looks at the ghost text, and takes it now and then.
        self.complete(uri, line, col)
        reply = self.wait_pending()
        items = ((reply or {}).get("result") or {}).get("items") or []
        if items and self.rng.random() < 0.3:
            self.insert(uri, line, col, items[0]["insertText"])
        if self.rng.random() < 0.15:
            self.code_actions(uri, line)
        if self.rng.random() < 0.3:
            self.ask_to_debug(uri, line)
        if len(lines) > MAX_LINES:
            start = self.rng.randrange(1, len(lines) - (len(lines) - MIN_LINES))
            self.delete_lines(uri, start, start + len(lines) - MIN_LINES)


def _snapshot(workspace: Path) -> dict[str, str]:
    return {str(p.relative_to(workspace)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(workspace.rglob("*")) if p.is_file()}


def _usage(proc: psutil.Process) -> tuple[float, int, int]:
    with proc.oneshot():
        return proc.memory_info().rss / 2**20, proc.num_fds(), proc.num_threads()


def _tree(proc: psutil.Process) -> set[psutil.Process]:
    try:
        return set(proc.children(recursive=True))
    except psutil.NoSuchProcess:
        return set()


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1], 1)


def _server_command(args: argparse.Namespace, log_file: Path, tmp_path: Path) -> list[str]:
    command = [sys.executable, "-m", "gemma_lsp", "--offline", "--log-file", str(log_file)]
    script = getattr(args, "script", None)
    if getattr(args, "scripted", False) and not script:
        script = tmp_path / "soak-script.json"
        script.write_text(json.dumps(SCRIPT))
    if script:
        command += ["--script", str(script)]
    command += ["--model", getattr(args, "model", None) or "tiny"]
    return command


def run(args: argparse.Namespace | None = None) -> dict[str, Any]:
    """Run the soak for args.minutes (--quick: at most QUICK_MINUTES); print the report and return it."""
    args = args or argparse.Namespace()
    minutes = float(getattr(args, "minutes", 1.0))
    if getattr(args, "quick", False):
        minutes = min(minutes, QUICK_MINUTES)
    rng = random.Random(getattr(args, "seed", 0))
    with tempfile.TemporaryDirectory(prefix="gemma-lsp-soak-") as tmp:
        tmp_path = Path(tmp)
        workspace = Path(getattr(args, "workspace", None) or tmp_path / "workspace")
        if not getattr(args, "workspace", None):
            workspace.mkdir()
            for name, text in SEED_FILES.items():
                (workspace / name).write_text(seed_text(name, text))
            (workspace / "test_stats.py").write_text(TEST_FILE)
        report = _soak(args, minutes, rng, workspace, tmp_path)
    print(json.dumps(report, indent=2))
    return report


def _soak(args: argparse.Namespace, minutes: float, rng: random.Random, workspace: Path,
          tmp_path: Path) -> dict[str, Any]:
    before = _snapshot(workspace)
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    # The server runs in the workspace folder: make sure it imports this very package.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env.setdefault("XDG_CACHE_HOME", str(tmp_path / "cache"))
    stderr = open(tmp_path / "stderr.log", "wb")
    client = Client(_server_command(args, tmp_path / "server.log", tmp_path), env, workspace, stderr)
    server = psutil.Process(client.proc.pid)
    tally = Tally()
    # Debug sessions bounded so a gibberish-speaking tiny model cannot hold the worker for minutes.
    # The prompt (KV) cache grows up to its budget by design; a small budget fills during the warm-up,
    # so growth after it is a leak and not the cache doing its job.
    options = {"gemma": {"maxNewTokens": int(getattr(args, "max_new_tokens", 16) or 16),
                         "kvCacheBudgetMb": int(getattr(args, "kv_cache_budget_mb", 16)),
                         "debug": {"maxTokens": 256, "maxSeconds": 30, "maxToolCalls": 4}}}
    init = client.call("initialize", {
        "processId": os.getpid(), "rootUri": workspace.as_uri(), "initializationOptions": options,
        "capabilities": {"window": {"workDoneProgress": True},
                         "textDocument": {"inlineCompletion": {}, "codeAction": {
                             "codeActionLiteralSupport": {"codeActionKind": {"valueSet": ["quickfix", ""]}},
                             "resolveSupport": {"properties": ["edit", "command"]}, "dataSupport": True}},
                         "workspace": {"applyEdit": False, "configuration": False}}})
    client.notify("initialized", {})
    deadline = time.monotonic() + 600
    while not {"ready", "error"} & set(client.status_states()):
        if time.monotonic() > deadline or client.proc.poll() is not None:
            raise RuntimeError("the server did not become ready; see its log")
        time.sleep(0.1)
    if "error" in client.status_states():
        raise RuntimeError("the model failed to load: " + str(client.notifications[-1]))
    caps = init["result"]["capabilities"]
    editor = Editor(client, workspace, rng, tally, caps)
    files = sorted(p for p in workspace.rglob("*") if p.suffix in LANGUAGE)
    seen: set[psutil.Process] = set()
    sampling = threading.Event()

    rss_series: list[float] = []

    def sample_tree() -> None:
        # Sandboxed tool runs live for a fraction of a second: look often to catch every child.
        ticks = 0
        while not sampling.wait(0.05):
            seen.update(_tree(server))
            ticks += 1
            if ticks % 200 == 0:  # every 10 s: memory over time tells a leak from a high-water mark
                rss_series.append(round(_usage(server)[0], 1))

    threading.Thread(target=sample_tree, daemon=True).start()

    # Warm-up: every file opened, a few completions and code actions, so lazily created thread
    # pools and caches exist before the start figures are taken.
    for path in files:
        uri = editor.open(path)
        last = len(editor.docs[uri]) - 1
        editor.complete(uri, last, len(editor.docs[uri][last]))
        editor.wait_pending()
        editor.code_actions(uri, 0)
    editor.burst(files[0])
    editor.ask_to_debug(editor.open(files[0]), 0)  # loads the tool and sandbox modules
    editor.finish_debug()
    # Then plain editing until the server's memory has met its working set (the model's activations
    # for the largest prompts, the allocator's arenas): a quarter of the run, at least 15 s.
    warmup_s = max(15.0, minutes * 15)
    warm_until = time.monotonic() + warmup_s
    while time.monotonic() < warm_until:
        editor.burst(rng.choice(files))
    editor.wait_pending()
    editor.finish_debug()
    time.sleep(1.0)
    rss_start, fds_start, threads_start = _usage(server)
    warm = (tally.served, tally.cancelled, tally.failed, len(tally.latencies_ms), tally.refused)
    warm_kinds = dict(tally.by_kind)
    started = time.monotonic()
    while time.monotonic() - started < minutes * 60:
        path = rng.choice(files)
        editor.burst(path)
        if rng.random() < 0.05 and len(editor.docs) > 1:
            editor.close(path.as_uri())
    editor.wait_pending()
    editor.finish_debug()
    time.sleep(1.0)  # let the last cancellations and log lines settle
    rss_end, fds_end, threads_end = _usage(server)
    sampling.set()
    seen |= _tree(server)
    elapsed = time.monotonic() - started
    stop = getattr(args, "stop", None) or "exit"
    shutdown: dict[str, Any] = {}
    if stop == "exit":
        shutdown = client.call("shutdown", timeout=60)
        client.notify("exit")
    else:  # as an editor that gives up on shutdown (SIGTERM) or the OOM killer (SIGKILL) ends it
        client.proc.send_signal(signal.SIGTERM if stop == "sigterm" else signal.SIGKILL)
    try:
        exit_code = client.proc.wait(30)
    except subprocess.TimeoutExpired:
        exit_code = None
        client.proc.kill()
    stderr.close()
    _, alive = psutil.wait_procs(list(seen), timeout=10)  # children of a killed server die just after it
    orphans = [p.pid for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    for pid in orphans:  # leave the machine as we found it
        try:
            psutil.Process(pid).kill()
        except psutil.Error:
            pass
    after = _snapshot(workspace)
    latencies = tally.latencies_ms[warm[3]:]
    return {
        "minutes": round(elapsed / 60, 2),
        "warmup_s": round(warmup_s),
        "engine": "scripted" if getattr(args, "script", None) or getattr(args, "scripted", False)
        else (getattr(args, "model", None) or "tiny"),
        "served": tally.served - warm[0],
        "cancelled": tally.cancelled - warm[1],
        "failed": tally.failed - warm[2],
        "refused": tally.refused - warm[4],
        "p50_ms": _percentile(latencies, 50),
        "p95_ms": _percentile(latencies, 95),
        "rss_start_mb": round(rss_start, 1),
        "rss_end_mb": round(rss_end, 1),
        "fds_start": fds_start,
        "fds_end": fds_end,
        "threads_start": threads_start,
        "threads_end": threads_end,
        "orphans": len(orphans),
        "children_seen": len(seen),
        "rss_series_mb": rss_series,  # processes the server started during the run (sandboxed tools)
        "stop": stop,
        "exit_code": exit_code,
        "expected_exit_code": EXPECTED_EXIT[stop],
        "shutdown_ok": "result" in shutdown and shutdown["result"] is None if stop == "exit" else None,
        "requests": {k: n - warm_kinds.get(k, 0) for k, n in tally.by_kind.items() if n > warm_kinds.get(k, 0)},
        "errors": tally.errors[:20],
        "workspace_modified": sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k)),
    }


# A --quick soak types for this long (after its warm-up): a smoke run, whatever --minutes says.
QUICK_MINUTES = 0.1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=1.0,
                        help=f"how long to type (default 1; fractions allowed; --quick: at most {QUICK_MINUTES})")
    parser.add_argument("--model", default="tiny", help="the server's --model (default tiny)")
    parser.add_argument("--script", default=None, help="answer from a scripted-engine file instead of a model")
    parser.add_argument("--scripted", action="store_true",
                        help="answer from built-in canned replies (fast; debug sessions run real sandboxed tools)")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="tokens per completion (default 16)")
    parser.add_argument("--workspace", default=None, help="a folder to type into (only in the editor buffers: "
                        "the folder is hashed before and after; default: a throwaway sample workspace)")
    parser.add_argument("--kv-cache-budget-mb", type=int, default=16,
                        help="the server's prompt-cache budget (default 16: full after the warm-up)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stop", choices=sorted(EXPECTED_EXIT), default="exit",
                        help="how the run ends the server: shutdown then exit (default), SIGTERM or SIGKILL; "
                        "`orphans` counts what survives it")


# The server's exit code for each way of ending it (a SIGKILLed process reports -9).
EXPECTED_EXIT = {"exit": 0, "sigterm": 0, "sigkill": -signal.SIGKILL}


def exit_code(report: dict[str, Any]) -> int:
    """0 when the server stayed healthy: nothing failed, nothing left running, the workspace untouched."""
    healthy = report["failed"] == 0 and report["orphans"] == 0 \
        and report["exit_code"] == report["expected_exit_code"] and not report["workspace_modified"]
    return 0 if healthy else 1


if __name__ == "__main__":
    from gemma_lsp.bench.__main__ import main

    raise SystemExit(main(["soak", *sys.argv[1:]]))
