"""A pids cgroup per run, used only when the server runs as root.

Linux exempts the real root user from RLIMIT_NPROC, and inside bwrap's user namespace the sandboxed
code still runs as the host's uid, so as root a fork bomb is bounded only by a cgroup's `pids.max`.
For everyone else the rlimit set inside the sandbox is enough and this module is not used.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
from pathlib import Path

_V1_PIDS = Path("/sys/fs/cgroup/pids")
_counter = itertools.count()


def pids_cgroup_root() -> Path | None:
    """The cgroup-v1 pids hierarchy if this process may create groups in it, else None."""
    if os.geteuid() != 0 or not (_V1_PIDS / "cgroup.procs").exists():
        return None
    probe = _V1_PIDS / f"gemma-lsp-probe-{os.getpid()}"
    try:
        probe.mkdir(exist_ok=True)
        ok = (probe / "pids.max").exists()
        probe.rmdir()
        return _V1_PIDS if ok else None
    except OSError:
        return None


class PidsCgroup:
    """A fresh group with `pids.max`; `procs_file` is what a launcher writes its pid into."""

    def __init__(self, root: Path, max_pids: int) -> None:
        self.path = root / f"gemma-lsp-{os.getpid()}-{next(_counter)}"
        self.path.mkdir()
        (self.path / "pids.max").write_text(str(max_pids))

    @property
    def procs_file(self) -> str:
        return str(self.path / "cgroup.procs")

    def kill_all(self) -> None:
        """SIGKILL whatever is still in the group (belt and braces after the namespace is gone)."""
        with contextlib.suppress(OSError):
            for line in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(line), signal.SIGKILL)

    def remove(self) -> None:
        """Kill what is left and delete the group (retrying while killed processes are reaped)."""
        for _ in range(500):
            self.kill_all()
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.002)
