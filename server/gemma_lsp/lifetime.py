"""Nothing outlives the server: helpers for child processes and for watching the editor's process.

A child that the kernel does not tie to the server survives it: killed with SIGKILL, the server gets no
chance to stop its children, and they are reparented to init. Two mechanisms close that gap, and a
child uses both:

- `PR_SET_PDEATHSIG`: the kernel sends the child SIGKILL when its parent dies. It fires when the parent
  *thread* that forked the child ends, not the process, so the child must be started from a thread
  that lives as long as the child should (the index starts its worker from its own long-lived thread).
- A watch thread in the child that polls its parent's pid and exits when it changed (covers kernels
  and platforms without prctl, and the window between fork and the prctl call).

Processes the server starts outside bubblewrap (search_text's matcher, and command runs the user
allowed unsandboxed) run under sandbox/group_guard.py, which arms `PR_SET_PDEATHSIG` itself and then
kills its whole process group when the server dies; bubblewrap's `--die-with-parent` covers sandboxed
runs. (Not a `preexec_fn`: that makes Python fork instead of vfork, and forking a server holding a
model in memory costs about 0.1 s per GiB resident, on every run.)

`process_gone` serves LSP's `initialize.processId`: the server ends itself when the editor that
started it is gone (lsp/server.py polls it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time

import psutil

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from linux/prctl.h
PARENT_POLL_SECONDS = 1.0


def die_with_parent(parent_pid: int, poll_seconds: float = PARENT_POLL_SECONDS) -> bool:
    """Make this process end when `parent_pid` (the process that started it) ends, whatever signal
    ended the parent. Exits at once if the parent is already gone. True if the kernel will deliver
    SIGKILL (prctl worked); the polling watch runs either way."""
    armed = _set_pdeathsig(signal.SIGKILL)
    # The parent may have died between fork and prctl: then we already belong to another process.
    if os.getppid() != parent_pid:
        os._exit(0)
    threading.Thread(target=_watch_parent, args=(parent_pid, poll_seconds), name="parent-watch",
                     daemon=True).start()
    return armed


def _set_pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, poll_seconds: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(poll_seconds)
    os._exit(0)  # reparented: the parent is gone, and nobody will read what we would send


def process_gone(process: psutil.Process) -> bool:
    """True when `process` has ended: no such pid, the pid now names another process (psutil compares
    creation times), or only its zombie is left for a parent to collect."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False


def find_process(pid: int) -> psutil.Process | None:
    """The live process `pid`, or None when it cannot be seen (gone, or in another PID namespace:
    an editor outside a container passes its own pid to a server inside one)."""
    try:
        process = psutil.Process(pid)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None
    return None if process_gone(process) else process
