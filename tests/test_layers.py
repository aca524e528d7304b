"""Imports point down and never go round in a circle (docs/architecture.md).

The contracts are import-linter's, in pyproject.toml: `layers`, `acyclic` (no cycle between the modules
of any package) and `features-no-transport` (features/ imports neither pygls nor lsprotocol). They are
run as the `lint-imports` command on this checkout, and on a copy of the package given one import that
breaks each contract, to show that each can fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, SERVER_SRC

LINT_IMPORTS = [sys.executable, "-c",
                "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"]


def lint_imports(server_src: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(server_src)}
    return subprocess.run([*LINT_IMPORTS, "--no-cache", str(REPO / "pyproject.toml")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_import_contracts():
    result = lint_imports(SERVER_SRC)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def add_import(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")


def test_an_upward_import_a_cycle_and_lsp_in_features_are_each_caught(tmp_path: Path):
    copy = tmp_path / "server"
    shutil.copytree(SERVER_SRC / "gemma_lsp", copy / "gemma_lsp", ignore=shutil.ignore_patterns("__pycache__"))
    package = copy / "gemma_lsp"
    add_import(package / "context" / "prompt.py", "from gemma_lsp.lsp import server")  # context -> lsp
    add_import(package / "context" / "parts.py", "from gemma_lsp.context import shape")  # same layer, no cycle yet
    add_import(package / "context" / "shape.py", "from gemma_lsp.context import parts")  # ... now a cycle
    add_import(package / "features" / "explain.py", "import lsprotocol")
    result = lint_imports(copy)
    out = " ".join(result.stdout.split())
    assert result.returncode == 1, out
    assert "Contracts: 0 kept, 3 broken." in out
    assert "gemma_lsp.context.prompt -> gemma_lsp.lsp.server" in out
    assert "No cycles are allowed in gemma_lsp.context." in out
    assert "gemma_lsp.features.explain -> lsprotocol" in out
