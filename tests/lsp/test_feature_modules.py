"""The server's feature modules: every one is registered, and one that cannot be imported stops the
server at start-up with its traceback (they are part of the package: serving without one, unannounced,
would hide a broken install)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import SERVER_SRC


def test_every_lsp_module_with_handlers_is_a_registered_feature():
    from gemma_lsp.lsp import server

    folder = Path(server.__file__).parent
    with_handlers = {f"gemma_lsp.lsp.{path.stem}" for path in folder.glob("*.py")
                     if "\ndef register(" in path.read_text(encoding="utf-8")}
    assert {module.__name__ for module in server.FEATURES} == with_handlers


def start_server(server_src: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(server_src)}
    return subprocess.run([sys.executable, "-m", "gemma_lsp", "--model", "tiny"], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)


def copy_package(tmp_path: Path) -> Path:
    copy = tmp_path / "server"
    shutil.copytree(SERVER_SRC / "gemma_lsp", copy / "gemma_lsp", ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_a_feature_that_fails_to_import_stops_the_server_with_its_traceback(tmp_path: Path):
    copy = copy_package(tmp_path)
    feature = copy / "gemma_lsp" / "lsp" / "context_command.py"
    source = feature.read_text(encoding="utf-8")
    feature.write_text(source + '\nraise RuntimeError("broken feature module")\n', encoding="utf-8")
    result = start_server(copy)
    assert result.returncode == 1 and result.stdout == ""
    assert "Traceback" in result.stderr and "RuntimeError: broken feature module" in result.stderr
    assert f'gemma_lsp/lsp/context_command.py", line {source.count(chr(10)) + 2}' in result.stderr


def test_a_missing_feature_module_is_not_skipped_silently(tmp_path: Path):
    # It used to be: the server served without gemma.context and no one was told.
    copy = copy_package(tmp_path)
    (copy / "gemma_lsp" / "lsp" / "context_command.py").unlink()
    result = start_server(copy)
    assert result.returncode == 1 and result.stdout == ""
    assert "ImportError: cannot import name 'context_command' from 'gemma_lsp.lsp'" in result.stderr
