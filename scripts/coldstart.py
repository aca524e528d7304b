"""Measure the server's cold start: seconds to answer `initialize`, and to be ready with a model.

    python scripts/coldstart.py [--model tiny] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_message(stream) -> dict:
    length = 0
    while True:
        line = stream.readline()
        if not line:
            raise EOFError("server closed stdout")
        if line in (b"\r\n", b"\n"):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return json.loads(stream.read(length))


def one_run(model: str) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "gemma_lsp", "--model", model, "--offline"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin and proc.stdout
    proc.stdin.write(frame({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                            "params": {"processId": None, "rootUri": None, "capabilities": {}}}))
    proc.stdin.flush()
    while read_message(proc.stdout).get("id") != 1:
        pass
    initialized = time.perf_counter() - start
    proc.stdin.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    proc.stdin.flush()
    while True:
        message = read_message(proc.stdout)
        if message.get("method") == "gemma/status" and message["params"]["state"] in ("ready", "error"):
            break
    ready = time.perf_counter() - start
    proc.kill()
    proc.wait()
    return initialized, ready


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run(args.model) for _ in range(args.runs)]
    result = {"model": args.model, "initialize_s_median": statistics.median(r[0] for r in runs),
              "ready_s_median": statistics.median(r[1] for r in runs), "runs": runs}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
