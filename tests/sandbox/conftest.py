"""Fixtures for the sandbox tests: a workspace with known files, a secret outside it, tight limits."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from gemma_lsp.sandbox import SandboxLimits, run_sandboxed, sandbox_status

TIGHT = SandboxLimits(timeout_seconds=5, cpu_seconds=4, memory_mb=256, max_processes=64,
                      max_file_mb=8, max_output_bytes=8_000, kill_output_bytes=2_000_000)


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under `folder` with its content hash (or the link target / 'dir')."""
    result = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            result[rel] = "link:" + str(path.readlink())
        elif path.is_dir():
            result[rel] = "dir"
        else:
            result[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


@pytest.fixture(scope="session", autouse=True)
def require_sandbox():
    status = sandbox_status()
    if not status.available:
        pytest.fail(f"the escape suite needs a working sandbox: {status.reason}")


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder next to the workspace holding a secret the sandbox must not see."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text("TOP-SECRET-TOKEN")
    return folder


@pytest.fixture
def workspace(tmp_path: Path, outside: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "app.py").write_text("def add(a, b):\n    return a + b\n")
    (ws / "README.md").write_text("hello\n")
    (ws / "link_to_secret").symlink_to(outside / "secret.txt")
    (ws / "link_to_shadow").symlink_to("/etc/shadow")
    (ws / "link_to_outside_dir").symlink_to(outside)
    return ws


async def attack(workspace: Path, code: str, limits: SandboxLimits = TIGHT, **kwargs):
    """Run hostile Python in the sandbox; returns (RunResult, the JSON report it printed last, or None)."""
    result = await run_sandboxed([sys.executable, "-c", code], workspace, limits, **kwargs)
    report = None
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if lines:
        report = json.loads(lines[-1])
    return result, report
