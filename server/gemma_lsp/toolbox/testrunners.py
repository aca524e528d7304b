"""How a workspace runs its tests, and reading the counts back from the runner's output.

Detection, first match wins: the `tests.command` setting; pytest (pytest.ini, [tool.pytest...] in
pyproject.toml, [tool:pytest] in setup.cfg, [pytest] in tox.ini, conftest.py, or test files that
import pytest); unittest (test*.py files without pytest); node (package.json with a real "test"
script -> npm test, else *.test.js / test/ files -> node --test); go (go.mod -> go test); cargo
(Cargo.toml -> cargo test).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

_NPM_DEFAULT_TEST = "no test specified"


@dataclass(frozen=True)
class TestRunner:
    name: str  # "pytest", "unittest", "npm", "node", "go", "cargo", "custom"
    command: list[str]
    # Read-only paths the command needs besides the system's: a workspace virtualenv's base Python.
    extra_ro_paths: tuple[str, ...] = ()


def _read(path: Path) -> str:
    try:
        return path.read_text("utf-8", "replace")
    except OSError:
        return ""


def _python_test_files(ws: Path) -> list[Path]:
    found: list[Path] = []
    for pattern in ("test_*.py", "*_test.py", "*/test_*.py", "*/*_test.py", "*/*/test_*.py", "tests.py"):
        found += [p for p in ws.glob(pattern) if ".venv" not in p.parts and "node_modules" not in p.parts]
    return sorted(set(found))


def _python(ws: Path) -> tuple[str, tuple[str, ...]]:
    """The workspace's own virtualenv's python if it has one (plus the base installation it links to,
    which the sandbox must then mount), else `python` from the sandbox PATH (the server's)."""
    for venv in (".venv", "venv"):
        candidate = ws / venv / "bin" / "python"
        if candidate.exists():
            home = re.search(r"^home\s*=\s*(.+)$", _read(ws / venv / "pyvenv.cfg"), re.M)
            base = str(Path(home.group(1).strip()).parent) if home else None
            return str(candidate), (base,) if base and base != "/usr" else ()
    return "python", ()


def detect(ws: Path, override: list[str] | None = None, target: str | None = None) -> TestRunner | None:
    """The runner and full command for `ws` (with `target` applied), or None when no tests are found."""
    if override:
        command = [a.replace("{target}", target or "") for a in override if a != "{target}" or target]
        if target and not any("{target}" in a for a in override):
            command.append(target)
        return TestRunner("custom", command)
    pyproject, setup_cfg, tox = _read(ws / "pyproject.toml"), _read(ws / "setup.cfg"), _read(ws / "tox.ini")
    files = _python_test_files(ws)
    uses_pytest = (
        (ws / "pytest.ini").exists() or (ws / "conftest.py").exists() or "[tool.pytest" in pyproject
        or "[tool:pytest]" in setup_cfg or "[pytest]" in tox
        or any(re.search(r"^\s*(import pytest|from pytest)", _read(f), re.M) for f in files[:50])
    )
    if uses_pytest or files:
        python, paths = _python(ws)
        if uses_pytest:
            # -p no:cacheprovider: nothing to cache (writes are discarded); -rfE lists failures at the end.
            command = [python, "-m", "pytest", "-q", "-rfE", "--color=no", "-p", "no:cacheprovider"]
            return TestRunner("pytest", command + ([target] if target else []), paths)
        module = target.replace("/", ".").removesuffix(".py") if target else None
        command = [python, "-m", "unittest"] + ([module] if module else ["discover", "-v"])
        return TestRunner("unittest", command + (["-v"] if module else []), paths)
    package = ws / "package.json"
    if package.exists():
        try:
            scripts = json.loads(_read(package)).get("scripts", {}) or {}
        except (json.JSONDecodeError, AttributeError):
            scripts = {}
        test_script = scripts.get("test", "") if isinstance(scripts, dict) else ""
        if test_script and _NPM_DEFAULT_TEST not in test_script:
            return TestRunner("npm", ["npm", "test", "--silent"] + (["--", target] if target else []))
        return TestRunner("node", ["node", "--test"] + ([target] if target else []))
    if list(ws.glob("*.test.js")) or list(ws.glob("test/*.js")) or list(ws.glob("*.test.mjs")):
        return TestRunner("node", ["node", "--test"] + ([target] if target else []))
    if (ws / "go.mod").exists():
        return TestRunner("go", ["go", "test", "-v", target or "./..."])
    if (ws / "Cargo.toml").exists():
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
