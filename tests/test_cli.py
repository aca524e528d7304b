"""The command line: --version, --help, `complete`, --tcp (each run as a real subprocess)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import server_command, server_env


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(server_command(*args), capture_output=True, text=True, timeout=timeout, env=server_env())


def test_version_and_help():
    from gemma_lsp import __version__

    assert run("--version").stdout.strip() == f"gemma-lsp {__version__}"
    help_text = run("--help").stdout
    for option in ("--tcp", "--model", "--drafter-model", "--no-drafter", "--draft-tokens", "--device", "--dtype",
                   "--engine", "--remote-url", "--offline", "--log-file", "--script", "complete FILE:LINE:COL"):
        assert option in help_text, option


def test_complete_prints_the_completion_at_a_1_based_position(tmp_path: Path):
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n")
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"completion": ["return a + b\n```"]}))
    result = run("complete", f"{source}:2:5", "--model", "tiny", "--script", str(script))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "return a + b\n"


def test_complete_reports_bad_locations(tmp_path: Path):
    assert run("complete", "nowhere.py:1:1", "--model", "tiny").returncode == 2
    result = run("complete", "calc.py", "--model", "tiny")
    assert result.returncode != 0 and "FILE:LINE:COL" in result.stderr


def test_setting_flags_are_checked_like_the_editor_settings(tmp_path: Path):
    # `--device gpu` used to pass and end in a torch traceback; the flags now use the settings schema.
    source = tmp_path / "calc.py"
    source.write_text("x = 1\n")
    result = run("complete", f"{source}:1:1", "--model", "tiny", "--device", "gpu")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "argument --device: must be auto, cpu, cuda, cuda:N or mps" in result.stderr
    result = run("--draft-tokens", "17")
    assert result.returncode == 2 and "argument --draft-tokens: must be between 1 and 16" in result.stderr
    help_text = " ".join(run("--help").stdout.split())
    assert "(1-16, default 4)" in help_text and "(1-8192, default 128)" in help_text and "cuda:N or mps" in help_text


def test_tcp_serves_lsp_on_loopback(tmp_path: Path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_file = tmp_path / "server.log"
    proc = subprocess.Popen(server_command("--model", "tiny", "--tcp", f"127.0.0.1:{port}", "--log-file", str(log_file)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=server_env())
    try:
        deadline = time.time() + 60
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.time() < deadline, "server did not listen"
                time.sleep(0.2)
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                           "params": {"processId": None, "rootUri": None, "capabilities": {}}}).encode()
        conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        data = b""
        while b"inlineCompletionProvider" not in data:
            chunk = conn.recv(65536)
            assert chunk, "connection closed"
            data += chunk
        conn.close()
    finally:
        proc.kill()
        out, _ = proc.communicate(timeout=10)
    assert out == b""  # nothing but LSP traffic, and that went over TCP
    assert log_file.exists() and oct(log_file.stat().st_mode & 0o777) == "0o600"


def test_a_closing_fence_split_across_chunks_never_leaks_a_backtick(tmp_path: Path):
    """The scripted engine streams 6-character chunks: here the fence starts mid-chunk."""
    source = tmp_path / "calc.py"
    source.write_text("def add(a, b):\n    \n")
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"completion": ["a + b\n    return a - b\n```"]}))
    result = run("complete", f"{source}:2:5", "--model", "tiny", "--script", str(script))
    assert result.returncode == 0, result.stderr
    assert "`" not in result.stdout
    assert result.stdout.startswith("a + b\n    return a - b")
