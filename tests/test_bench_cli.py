"""Every benchmark command the README documents runs as written (with `--quick` and `--json` added).

The commands are read out of README.md, so the documented ones are the tested ones and cannot drift:
each `python -m gemma_lsp.bench ...` in backticks runs as a subprocess, must exit 0 and write its JSON.
(Before, `context` crashed on an option its own parser declared and the umbrella did not, and
`soak --minutes 10` was refused as unrecognized arguments.)
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, server_env

PREFIX = "python -m gemma_lsp.bench"


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return sorted(set(re.findall(rf"`({re.escape(PREFIX)}[^`]*)`", text)))


def test_the_readme_documents_every_benchmark():
    from gemma_lsp.bench.__main__ import BENCHMARKS

    named = {shlex.split(command)[3] for command in readme_commands()}
    assert named == set(BENCHMARKS)


@pytest.mark.parametrize("command", readme_commands())
def test_a_documented_benchmark_command_runs(command: str, tmp_path: Path):
    argv = shlex.split(command)[len(PREFIX.split()):]
    placeholders = [a for a in argv if re.fullmatch(r"[A-Z_]+|\[.*|.*\]", a)]
    assert not placeholders, f"the README must show a command that runs as written: {command}"
    out = tmp_path / "result.json"
    done = subprocess.run([sys.executable, "-m", "gemma_lsp.bench", *argv, "--quick", "--json", str(out)],
                          cwd=tmp_path, env=server_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert isinstance(result, dict) and result, result
