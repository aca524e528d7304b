"""The README's two commands: `scripts/serve` starts the server (set-up is a no-op once done)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.skipif(not (Path(sys.prefix) / ".gemma-lsp-setup-test").exists(),
                    reason="this environment was not made by scripts/setup.sh (scripts/test makes it)")
def test_serve_sets_up_and_answers_initialize_on_stdio():
    env = dict(os.environ, GEMMA_LSP_VENV=sys.prefix)
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"processId": None, "rootUri": None, "capabilities": {}}}).encode()
    proc = subprocess.Popen([str(REPO / "scripts" / "serve"), "--model", "tiny"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert proc.stdin and proc.stdout
        proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        proc.stdin.flush()
        length = 0
        while True:  # header lines up to the blank one (pygls also sends Content-Type)
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            if line in (b"\r\n", b"\n"):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        reply = json.loads(proc.stdout.read(length))
        assert reply["id"] == 1 and "inlineCompletionProvider" in reply["result"]["capabilities"]
    finally:
        proc.kill()
        proc.wait()


def test_setup_script_is_valid_bash():
    for script in ("setup.sh", "serve", "test"):
        subprocess.run(["bash", "-n", str(REPO / "scripts" / script)], check=True)
