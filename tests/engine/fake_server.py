"""The fake OpenAI-compatible server (remote_support/fake_openai_server.py) as a test helper: start it,
script its replies, read its request log. Used by the remote engine's tests and the engines' contract."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

FAKE_SERVER = Path(__file__).parent / "remote_support" / "fake_openai_server.py"
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
