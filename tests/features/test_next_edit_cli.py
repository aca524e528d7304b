"""`gemma-lsp next-edit`: the README's command runs as written and prints the prompt parts and the edit."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from gemma_lsp.features.next_edit_cli import split_edits
from tests.conftest import REPO, server_env

PREFIX = "gemma-lsp next-edit"


def _run(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gemma_lsp", *argv], cwd=cwd, env=server_env(),
                          capture_output=True, text=True, timeout=300)


def test_the_readme_command_prints_the_prompt_and_the_predicted_rename():
    text = (REPO / "README.md").read_text("utf-8")
    commands = [c for c in re.findall(rf"`({re.escape(PREFIX)} [^`]*)`", text) if "FILE:LINE:COL" not in c]
    assert len(commands) == 1, commands
    argv = shlex.split(commands[0])[1:]
    done = _run(*argv)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["edit"] == {"range": {"start": {"line": 1, "character": 12}, "end": {"line": 1, "character": 12}},
                              "newText": "idth", "label": "line 2: w → width"}
    assert result["edits"] == [(REPO / "tests/features/fixtures/next_edit/demo/rename.diff").read_text()]
    assert result["window"]["text"].startswith("def area(width, h):\n")
    assert "<EDITABLE>\ndef area(width<CURSOR>, h):" in result["prompt"]
    assert "+def area(width, h):" in result["prompt"]


def test_bad_input_gets_a_clear_error(tmp_path: Path):
    source = tmp_path / "a.py"
    source.write_text("x = 1\n")
    not_a_diff = tmp_path / "edits.txt"
    not_a_diff.write_text("renamed x\n")
    done = _run("next-edit", f"{source}:1:1", "--edits", str(not_a_diff), "--model", "tiny")
    assert done.returncode == 2 and "holds no unified diff hunk" in done.stderr
    done = _run("next-edit", f"{source}:9:1", "--edits", str(not_a_diff), "--model", "tiny")
    assert done.returncode == 2
    done = _run("next-edit", f"{source}:1:1", "--edits", str(tmp_path / "missing.diff"), "--model", "tiny")
    assert done.returncode == 2 and "cannot read" in done.stderr


def test_each_hunk_is_one_edit_with_its_file_headers():
    diff = ("--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n@@ -5 +5 @@\n--- c\n+d\n"
            "--- a/y.py\n+++ b/y.py\n@@ -2 +2 @@\n-e\n+f")
    assert split_edits(diff) == [
        "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n",
        "--- a/x.py\n+++ b/x.py\n@@ -5 +5 @@\n--- c\n+d\n",  # a removed line "-- c", not a header
        "--- a/y.py\n+++ b/y.py\n@@ -2 +2 @@\n-e\n+f\n",
    ]
