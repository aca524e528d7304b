"""Per-run control groups: one memory cap and one process cap for the whole sandboxed tree.

rlimits count per process (four processes may each use the memory limit) and Linux exempts real root
from RLIMIT_NPROC, so the caps that hold for a whole run are cgroup ones:
- memory: cgroup v2 `memory.max` where this process may create a child group with the memory
  controller, else cgroup v1 `memory.limit_in_bytes`. Files written to the sandbox's tmpfs (/tmp, the
  workspace overlay's discarded writes) are charged to the group too, so this also bounds them.
- processes: `pids.max` (v2, else v1), used when the server runs as root.
Groups are created next to this process's own (so they nest inside whatever limits the server has),
else at the hierarchy's root. Where no group can be created, runs fall back to the per-process rlimits
and `SandboxStatus.memory_limit` says so.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_FS = Path("/sys/fs/cgroup")
_counter = itertools.count()


@dataclass(frozen=True)
class Controller:
    """Where to create groups for one resource, and the file that sets its cap."""

    parent: Path
    limit_file: str  # "memory.max", "memory.limit_in_bytes" or "pids.max"
    version: int


def _own_paths() -> dict[str, str]:
    """This process's group per hierarchy: {"memory": "/a/b", "pids": ..., "": v2 path}."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, names, path = line.split(":", 2)
            for name in names.split(",") if names else [""]:
                paths[name] = path
    return paths


def _v2_mount() -> Path | None:
    for candidate in (CGROUP_FS, CGROUP_FS / "unified"):
        if (candidate / "cgroup.controllers").exists():
            return candidate
    return None


def _creatable(parent: Path, limit_file: str) -> bool:
    """Whether a child of `parent` can be made here and gets `limit_file`."""
    probe = parent / f"gemma-lsp-probe-{os.getpid()}-{next(_counter)}"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        return (probe / limit_file).exists()
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


def _find(resource: str) -> Controller | None:
    """The best place for `resource` ("memory" or "pids") groups, or None."""
    own = _own_paths()
    v2 = _v2_mount()
    limit_v1 = {"memory": "memory.limit_in_bytes", "pids": "pids.max"}[resource]
    limit_v2 = {"memory": "memory.max", "pids": "pids.max"}[resource]
    candidates: list[Controller] = []
    if v2 is not None:
        for parent in (v2 / own.get("", "/").lstrip("/"), v2):
            candidates.append(Controller(parent, limit_v2, 2))
    v1 = CGROUP_FS / resource
    if (v1 / "cgroup.procs").exists() and not (v1 / "cgroup.controllers").exists():
        for parent in (v1 / own.get(resource, "/").lstrip("/"), v1):
            candidates.append(Controller(parent, limit_v1, 1))
    for controller in dict.fromkeys(candidates):
        if controller.parent.is_dir() and _creatable(controller.parent, controller.limit_file):
            return controller
    return None


@functools.lru_cache(maxsize=1)
def controllers() -> dict[str, Controller]:
    """{"memory": ..., "pids": ...} for the resources per-run groups work for here (probed once)."""
    found = {}
    for resource in ("memory", "pids"):
        controller = _find(resource)
        if controller:
            found[resource] = controller
            sweep_stale(controller.parent)
    return found


def sweep_stale(parent: Path) -> None:
    """Remove empty groups left by servers that were killed before they could clean up."""
    for group in parent.glob("gemma-lsp-*-*"):
        pid = group.name.split("-")[2]
        if not pid.isdigit() or Path("/proc", pid).exists():
            continue
        with contextlib.suppress(OSError):
            group.rmdir()  # fails, harmlessly, while the group still has processes


def pids_cgroup_root() -> Path | None:
    """Where pids groups are made, when one can be (used by the sandbox status)."""
    controller = controllers().get("pids")
    return controller.parent if controller else None


class RunCgroup:
    """Fresh groups for one run; the launcher writes its pid into every `procs_files` entry."""

    def __init__(self, memory_bytes: int | None, max_pids: int | None) -> None:
        self.paths: list[Path] = []
        self.memory_path: Path | None = None
        available = controllers()
        name = f"gemma-lsp-{os.getpid()}-{next(_counter)}"
        try:
            for resource, value in (("memory", memory_bytes), ("pids", max_pids)):
                controller = available.get(resource)
                if controller is None or value is None:
                    continue
                path = controller.parent / name
                if path not in self.paths:
                    path.mkdir()
                    self.paths.append(path)
                (path / controller.limit_file).write_text(str(value))
                if resource == "memory":
                    self.memory_path = path
                    # v1 counts swap separately: cap memory+swap too where swap accounting exists.
                    with contextlib.suppress(OSError):
                        (path / "memory.memsw.limit_in_bytes").write_text(str(value))
                    with contextlib.suppress(OSError):
                        (path / "memory.swap.max").write_text("0")
        except OSError:
            self.remove()
            raise

    @property
    def procs_files(self) -> list[str]:
        return [str(path / "cgroup.procs") for path in self.paths]

    def out_of_memory(self) -> bool:
        """Whether the kernel killed a process of this run for exceeding the memory cap."""
        if self.memory_path is None:
            return False
        for name, key in (("memory.events", "oom_kill"), ("memory.oom_control", "oom_kill")):
            with contextlib.suppress(OSError):
                for line in (self.memory_path / name).read_text().splitlines():
                    field, _, value = line.partition(" ")
                    if field == key and int(value) > 0:
                        return True
        return False

    def kill_all(self) -> None:
        """SIGKILL whatever is still in the groups (belt and braces after the namespace is gone)."""
        for path in self.paths:
            with contextlib.suppress(OSError):
                for line in (path / "cgroup.procs").read_text().split():
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(int(line), signal.SIGKILL)

    def remove(self) -> None:
        """Kill what is left and delete the groups (retrying while killed processes are reaped)."""
        for path in self.paths:
            for _ in range(500):
                self.kill_all()
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.002)
        self.paths = []
