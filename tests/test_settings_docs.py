"""The schema's generated copies (VS Code, docs/protocol.md, Neovim help) are up to date and follow it.

Runs `python -m gemma_lsp.settings_docs` as a user would, on the checkout and on a copy whose schema
or artifacts were changed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gemma_lsp import settings_docs
from gemma_lsp.config import SCHEMA

ROOT = Path(__file__).resolve().parents[1]


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root / "server")}
    return subprocess.run([sys.executable, "-m", "gemma_lsp.settings_docs", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the server package and of every generated artifact."""
    shutil.copytree(ROOT / "server" / "gemma_lsp", tmp_path / "server" / "gemma_lsp",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for path in settings_docs.ARTIFACTS:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    return tmp_path


def test_every_generated_artifact_is_up_to_date():
    result = _run(ROOT, "--check")
    assert result.returncode == 0, result.stderr + "\nrun: PYTHONPATH=server python -m gemma_lsp.settings_docs --write"


def test_a_schema_change_makes_check_fail_until_write_regenerates_all_four(checkout: Path):
    config = checkout / "server" / "gemma_lsp" / "config.py"
    config.write_text(config.read_text().replace("DEFAULT_DRAFT_TOKENS = 4", "DEFAULT_DRAFT_TOKENS = 5"))
    result = _run(checkout, "--check")
    assert result.returncode == 1
    assert sorted(line.split()[0] for line in result.stderr.splitlines()) == sorted(settings_docs.ARTIFACTS)

    assert _run(checkout, "--write").returncode == 0
    assert _run(checkout, "--check").returncode == 0
    package = json.loads((checkout / "editors/vscode/package.json").read_text())
    assert package["contributes"]["configuration"]["properties"]["gemma.draftTokens"]["default"] == 5
    assert '{ key: "draftTokens", kind: {"type": "integer", "minimum": 1, "maximum": 16}, default: 5,' in \
        (checkout / "editors/vscode/src/settingsTable.ts").read_text()
    assert "| `draftTokens` | int 1..16 | 5 |" in (checkout / "docs/protocol.md").read_text()
    assert "draftTokens             integer 1..16, default 5" in \
        (checkout / "editors/neovim/doc/gemma.txt").read_text()


def test_a_hand_edit_inside_a_generated_region_is_caught_and_undone(checkout: Path):
    doc = checkout / "docs/protocol.md"
    original = doc.read_text()
    doc.write_text(original.replace("| `logFile` |", "| `logfile` |"))
    result = _run(checkout, "--check")
    assert result.returncode == 1 and "docs/protocol.md is out of date" in result.stderr
    _run(checkout, "--write")
    assert doc.read_text() == original


def test_text_outside_the_markers_is_kept(checkout: Path):
    help_file = checkout / "editors/neovim/doc/gemma.txt"
    help_file.write_text(help_file.read_text().replace("CONTENTS", "CONTENTS (local note)"))
    assert _run(checkout, "--check").returncode == 0


def test_a_missing_marker_is_a_clear_error(checkout: Path):
    doc = checkout / "docs/protocol.md"
    doc.write_text(doc.read_text().replace(settings_docs.MD_END, ""))
    result = _run(checkout, "--check")
    assert result.returncode != 0
    assert "docs/protocol.md: expected one" in result.stderr


def test_each_artifact_lists_every_documented_key_with_the_schema_default():
    package = json.loads((ROOT / "editors/vscode/package.json").read_text())
    properties = package["contributes"]["configuration"]["properties"]
    protocol = (ROOT / "docs/protocol.md").read_text()
    help_text = (ROOT / "editors/neovim/doc/gemma.txt").read_text()
    documented = [s for s in SCHEMA if s.audience == "server"]
    assert len(documented) >= 20
    for setting in documented:
        default = json.dumps(settings_docs._json(setting.default))
        assert properties[f"gemma.{setting.key}"]["default"] == settings_docs._json(setting.default)
        assert f"| `{setting.key}` |" in protocol and default in protocol.split(f"| `{setting.key}` |")[1].split("\n")[0]
        assert f"\n{setting.key} " in help_text
    # Not user settings: never shown to users as such.
    for key in ("clientRendersExplanations", "script", "sandbox.allowUnsandboxed"):
        assert f"gemma.{key}" not in properties and f"`{key}`" not in protocol.split("## Settings")[1].split("\n## ")[0]


def test_docs_name_every_value_the_server_accepts():
    # docs/protocol.md once left out `mps`, which the server accepts for `device`.
    from gemma_lsp.config import Settings

    protocol = (ROOT / "docs/protocol.md").read_text()
    for setting in SCHEMA:
        if setting.choices or setting.pattern:
            row = protocol.split(f"| `{setting.key}` |")[1].split("\n")[0]
            accepted = setting.choices or ("auto", "cpu", "cuda", "cuda:N", "mps")
            for value in accepted:
                assert f'`"{value}"`' in row, (setting.key, value)
                probe = value.replace("N", "1")
                assert Settings.from_lsp({setting.key: probe})[1] == [], (setting.key, probe)
