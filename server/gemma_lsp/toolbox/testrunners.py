"""How a workspace runs its tests, and reading the counts back from the runner's output.

Detection, first match wins: the `tests.command` setting; pytest (pytest.ini, [tool.pytest...] in
pyproject.toml, [tool:pytest] in setup.cfg, [pytest] in tox.ini, conftest.py, or test files that
import pytest); unittest (test*.py files without pytest); node (package.json with a real "test"
script -> npm test, else *.test.js / test/ files -> node --test); go (go.mod -> go test); cargo
(Cargo.toml -> cargo test).

Everything here reads files the repository controls, so it goes through sandbox.hostfiles (no links
out of the workspace, no FIFOs or devices, size caps) and walks folders without following links.
Nothing read here decides what the sandbox mounts: a workspace virtualenv's `pyvenv.cfg` names a
host folder of the repository's choosing, so it is never consulted (see sandbox/README.md).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from gemma_lsp.sandbox import hostfiles

_NPM_DEFAULT_TEST = "no test specified"


@dataclass(frozen=True)
class TestRunner:
    name: str  # "pytest", "unittest", "npm", "node", "go", "cargo", "custom"
    command: list[str]


MAX_CONFIG_BYTES = 1_000_000
MAX_SCANNED_TEST_FILES = 50  # files opened to look for "import pytest"
_SKIPPED_FOLDERS = {".venv", "venv", "node_modules", ".git", "__pycache__", ".tox"}


def _read(ws: Path, name: str) -> str:
    return hostfiles.read_text_or_empty(ws, name, MAX_CONFIG_BYTES)


def _exists(ws: Path, name: str) -> bool:
    """A regular file `name` directly in the workspace (a link to elsewhere does not count)."""
    return hostfiles.is_regular(ws, name)


def _files(ws: Path, depth: int) -> list[Path]:
    """Regular files up to `depth` folders below `ws`, never through a symlinked folder or file."""
    found: list[Path] = []
    level = [ws]
    for _ in range(depth + 1):
        below: list[Path] = []
        for folder in level:
            try:
                fd = hostfiles.open_folder(ws, folder)  # no link followed, even one swapped in now
            except OSError:
                continue
            try:
                with os.scandir(fd) as listing:
                    entries = [(e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False))
                               for e in listing]
            finally:
                os.close(fd)
            for name, is_dir, is_file in entries:
                if is_dir and name not in _SKIPPED_FOLDERS:
                    below.append(folder / name)
                elif is_file:
                    found.append(folder / name)
        level = below
    return found


def _python_test_files(ws: Path) -> list[Path]:
    """test_*.py / *_test.py up to two folders deep, and tests.py at the top."""
    return sorted(p for p in _files(ws, 2) if p.suffix == ".py" and (
        p.name.startswith("test_") or p.stem.endswith("_test") or (p.name == "tests.py" and p.parent == ws)))


def _python(ws: Path) -> str:
    """The workspace's own virtualenv's python if it has one, else `python` from the sandbox PATH.

    The virtualenv lies in the workspace, so the sandbox sees it; the base installation its python
    links to is visible only if it is one the sandbox mounts anyway (this server's own prefixes, the
    system's, or the user's own extra read-only paths, `gemma-lsp tool --ro-path`), never one named by
    the workspace's pyvenv.cfg.
    """
    for venv in (".venv", "venv"):
        if os.path.lexists(ws / venv / "bin" / "python"):
            return str(ws / venv / "bin" / "python")
    return "python"


def detect(ws: Path, override: list[str] | None = None, target: str | None = None) -> TestRunner | None:
    """The runner and full command for `ws` (with `target` applied), or None when no tests are found."""
    if override:
        command = [a.replace("{target}", target or "") for a in override if a != "{target}" or target]
        if target and not any("{target}" in a for a in override):
            command.append(target)
        return TestRunner("custom", command)
    pyproject, setup_cfg, tox = _read(ws, "pyproject.toml"), _read(ws, "setup.cfg"), _read(ws, "tox.ini")
    files = _python_test_files(ws)
    uses_pytest = (
        _exists(ws, "pytest.ini") or _exists(ws, "conftest.py") or "[tool.pytest" in pyproject
        or "[tool:pytest]" in setup_cfg or "[pytest]" in tox
        or any(re.search(r"^\s*(import pytest|from pytest)", _read(ws, str(f)), re.M)
               for f in files[:MAX_SCANNED_TEST_FILES])
    )
    if uses_pytest or files:
        python = _python(ws)
        if uses_pytest:
            # -p no:cacheprovider: nothing to cache (writes are discarded); -rfE lists failures at the end.
            command = [python, "-m", "pytest", "-q", "-rfE", "--color=no", "-p", "no:cacheprovider"]
            return TestRunner("pytest", command + ([target] if target else []))
        module = target.replace("/", ".").removesuffix(".py") if target else None
        command = [python, "-m", "unittest"] + ([module] if module else ["discover", "-v"])
        return TestRunner("unittest", command + (["-v"] if module else []))
    if _exists(ws, "package.json"):
        try:
            scripts = json.loads(_read(ws, "package.json")).get("scripts", {}) or {}
        except (json.JSONDecodeError, AttributeError):
            scripts = {}
        test_script = scripts.get("test", "") if isinstance(scripts, dict) else ""
        if test_script and _NPM_DEFAULT_TEST not in test_script:
            return TestRunner("npm", ["npm", "test", "--silent"] + (["--", target] if target else []))
        return TestRunner("node", ["node", "--test"] + ([target] if target else []))
    top = [p.relative_to(ws).as_posix() for p in _files(ws, 1)]
    if any(n.endswith((".test.js", ".test.mjs")) and "/" not in n or re.fullmatch(r"test/[^/]+\.js", n)
           for n in top):
        return TestRunner("node", ["node", "--test"] + ([target] if target else []))
    if _exists(ws, "go.mod"):
        return TestRunner("go", ["go", "test", "-v", target or "./..."])
    if _exists(ws, "Cargo.toml"):
        return TestRunner("cargo", ["cargo", "test", "--offline"] + ([target] if target else []))
    return None


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    found: bool = False  # whether the output had a summary we could read


_PYTEST_WORDS = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")


def parse_counts(runner: str, output: str) -> Counts:
    """Passed/failed/errors/skipped as the runner printed them."""
    counts = Counts()
    if runner in ("pytest", "custom"):
        lines = [line for line in output.splitlines() if _PYTEST_WORDS.search(line) and " in " in line]
        if lines:
            counts.found = True
            for number, word in _PYTEST_WORDS.findall(lines[-1]):
                n = int(number)
                if word == "passed" or word == "xpassed":
                    counts.passed += n
                elif word == "failed":
                    counts.failed += n
                elif word.startswith("error"):
                    counts.errors += n
                elif word in ("skipped", "xfailed"):
                    counts.skipped += n
            return counts
    if runner in ("unittest", "custom"):
        ran = re.findall(r"^Ran (\d+) tests?", output, re.M)
        if ran:
            counts.found = True
            total = int(ran[-1])
            tail = output[output.rfind("Ran "):]
            counts.failed = sum(int(n) for n in re.findall(r"failures=(\d+)", tail))
            counts.errors = sum(int(n) for n in re.findall(r"errors=(\d+)", tail))
            counts.skipped = sum(int(n) for n in re.findall(r"skipped=(\d+)", tail))
            counts.passed = max(0, total - counts.failed - counts.errors - counts.skipped)
            return counts
    if runner in ("node", "npm", "custom"):
        found = dict((k, int(v)) for k, v in re.findall(r"^[#ℹ]\s*(pass|fail|skipped|todo|cancelled)\s+(\d+)",
                                                       output, re.M))
        if found:
            counts.found = True
            counts.passed, counts.failed = found.get("pass", 0), found.get("fail", 0)
            counts.errors, counts.skipped = found.get("cancelled", 0), found.get("skipped", 0)
            return counts
    if runner in ("go", "custom"):
        marks = re.findall(r"^\s*--- (PASS|FAIL|SKIP):", output, re.M)
        if marks or re.search(r"^(ok|FAIL)\s", output, re.M):
            counts.found = True
            counts.passed, counts.failed = marks.count("PASS"), marks.count("FAIL")
            counts.skipped = marks.count("SKIP")
            counts.errors = len(re.findall(r"^FAIL\s+\S+\s+\[(build failed|setup failed)\]", output, re.M))
            return counts
    if runner in ("cargo", "custom"):
        results = re.findall(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored", output)
        if results:
            counts.found = True
            for passed, failed, ignored in results:
                counts.passed += int(passed)
                counts.failed += int(failed)
                counts.skipped += int(ignored)
            counts.errors = len(re.findall(r"^error(\[E\d+\])?:", output, re.M))
    return counts
