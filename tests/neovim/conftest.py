"""After every Neovim test (and after each module's shared Neovim has quit): no gemma-lsp server,
bubblewrap sandbox or index worker that the test started may survive it.

While a test runs, this pytest process is a child subreaper (PR_SET_CHILD_SUBREAPER): a process of
the tree it started whose parent dies is reparented here instead of to init, so an orphan is exactly
a matching process whose parent is now this process (Neovim is our child; servers are Neovim's;
workers and sandboxes are the server's). Neovim stops a server it cannot shut down quickly with
SIGTERM, which once left the index worker running forever (issue 13).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

PR_SET_CHILD_SUBREAPER = 36  # from linux/prctl.h
OURS = ("gemma_lsp", "bwrap", "multiprocessing")  # the server, its sandboxes, its index worker
GRACE_SECONDS = 20  # a server whose editor quit is still shutting down (cleanup, then exit)


def _set_subreaper(on: bool) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0


def _own_helpers() -> set[int]:
    """This pytest process's own multiprocessing resource tracker (started by an earlier in-process
    test that used multiprocessing): a child of ours from the start, not an orphan of a server."""
    from multiprocessing import resource_tracker

    pid = getattr(getattr(resource_tracker, "_resource_tracker", None), "_pid", None)
    return {pid} if pid else set()


def _orphans() -> list[psutil.Process]:
    """Our processes reparented to this one, minus zombies (which are collected here)."""
    found = []
    own = _own_helpers()
    for child in psutil.Process().children():
        if child.pid in own:
            continue
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(child.pid, os.WNOHANG)
                continue
            if any(name in " ".join(child.cmdline()) for name in OURS):
                found.append(child)
        except psutil.Error:
            continue
    return found


def _check_no_orphans() -> None:
    deadline = time.monotonic() + GRACE_SECONDS
    while (left := _orphans()) and time.monotonic() < deadline:
        time.sleep(0.2)
    described = []
    for process in left:
        with contextlib.suppress(psutil.Error):
            described.append(" ".join(process.cmdline())[:200])
            process.kill()  # leave the machine as we found it, then fail
    _orphans()  # collect what was just killed
    assert not described, f"processes outlived the Neovim test that started them: {described}"


@pytest.fixture(scope="module", autouse=True)
def no_orphans_after_the_module() -> Iterator[None]:
    """Set up before a module's shared Neovim, torn down after it quit: checks what its quit left."""
    if not _set_subreaper(True):
        yield
        return
    try:
        yield
        _check_no_orphans()
    finally:
        _set_subreaper(False)


@pytest.fixture(autouse=True)
def no_orphans_after_the_test(no_orphans_after_the_module: None) -> Iterator[None]:
    yield
    _check_no_orphans()
