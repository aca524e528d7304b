"""The context report (features/context_report.py) as `gemma-lsp context FILE:LINE:COL` prints it, run as a
real subprocess (`python -m gemma_lsp context`, and its alias `python -m gemma_lsp.context`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SERVER = str(Path(__file__).resolve().parents[2] / "server")


def _run(*args: str, cwd: Path, command: tuple[str, ...] = ("gemma_lsp.context",)) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SERVER, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", *command, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", [("gemma_lsp", "context"), ("gemma_lsp.context",)])
def test_context_command_prints_what_the_model_would_see(tmp_path, command):
    (tmp_path / "lib.py").write_text('def area(w: float, h: float) -> float:\n    """Rectangle area."""\n    return w * h\n')
    (tmp_path / "main.py").write_text("from lib import area\n\nprint(area(2, 3))\nsize = \n")
    result = _run("main.py:4:8", "--workspace", ".", cwd=tmp_path, command=command)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "single" and report["reason"] == "end of line"
    sources = {part["source"]: part for part in report["parts"]}
    assert sources["prefix"]["text"].endswith("size = ")
    definition = sources["definition"]
    assert definition["origin"] == (tmp_path / "lib.py").resolve().as_uri() + ":1"
    assert definition["text"] == 'def area(w: float, h: float) -> float:\n    """Rectangle area."""\n    ...'
    assert all(part["tokens"] > 0 for part in report["parts"] if part["text"])
    assert report["total_tokens"] == sum(part["tokens"] for part in report["parts"])
    assert [m["role"] for m in report["messages"]] == ["system", "user"]
    assert "size = <CURSOR>" in report["messages"][1]["content"]
    assert report["prompt"].endswith("<|turn>model\n```python\n")
    assert report["prompt_tokens"] > report["total_tokens"]


def test_column_counts_characters(tmp_path):
    (tmp_path / "a.py").write_text('s = "😀😀"\n')
    report = json.loads(_run("a.py:1:7", cwd=tmp_path).stdout)
    assert report["parts"][-2]["text"] == 's = "😀'  # the prefix ends after one emoji
    assert report["position"] == {"line": 0, "character": 6}


def test_bad_location_is_a_clear_error(tmp_path):
    result = _run("main.py:0:1", cwd=tmp_path)
    assert result.returncode == 2 and "1-based" in result.stderr
    result = _run("missing.py:1:1", cwd=tmp_path)
    assert result.returncode == 2 and "missing.py" in result.stderr


def test_tokenizer_from_a_model_folder(tmp_path):
    """--tokenizer reads a saved tokenizer folder offline (here the tiny one, saved by transformers)."""
    from gemma_lsp.models.tiny import build_tokenizer

    build_tokenizer().save_pretrained(tmp_path / "tok")
    (tmp_path / "a.py").write_text("x = 1\n")
    result = _run("a.py:1:5", "--tokenizer", "tok", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["tokenizer"] == "tok" and report["prompt"].startswith("<bos><|turn>system")
