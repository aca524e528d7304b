"""Run one command in the sandbox with limits, and never let it outlive its welcome.

Limits: a wall-clock timeout, CPU seconds, memory (RLIMIT_DATA: private writable memory, which bounds
heaps without breaking runtimes such as Node or Go that reserve large address ranges), number of
processes, file size, and output size (kept: the head and the tail; the process is killed when it
prints far beyond the cap). rlimits are set by `prlimit` *inside* the sandbox, after bwrap created the
user namespace, so they count only the sandbox's own processes.

The host-side launcher (bwrap, and /bin/sh before it when it joins the run's cgroups) gets a fixed,
minimal environment (LAUNCHER_ENV) and starts in "/", never in the workspace: a repository must not be
able to influence anything that runs outside the sandbox (see README.md here). The command's own
environment is handed to bwrap as arguments and exists only inside.

Killing: bwrap is started in its own process group; killing it makes its PID-namespace init die
(--die-with-parent), and the kernel then kills every process in the namespace. Cancellation (a
CancelToken or cancelling the awaiting task) and the timeout are noticed within POLL_SECONDS, and kill
the run's whole process group.

Outside the sandbox (run_trusted, and runs the user allowed unsandboxed) nothing else ties a process
to the server, so those run under group_guard.py, which arms PR_SET_PDEATHSIG and kills the run's
whole process group when the server dies, even by SIGKILL. The kernel ties that to the thread that
started the guard: the event loop's, which lives at least as long as it awaits the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemma_lsp.config import SandboxSettings
from gemma_lsp.sandbox.bwrap import (
    DEFAULT_PATH,
    SANDBOX_HOME,
    SandboxStatus,
    UnsafeMount,
    build_argv,
    check_mounts,
    default_ro_paths,
    sandbox_path_env,
    sandbox_status,
)
from gemma_lsp.sandbox.cgroup import RunCgroup
from gemma_lsp.sandbox.seccomp import filter_fd

log = logging.getLogger(__name__)

POLL_SECONDS = 0.02
# Host variables passed through when set; everything else (tokens, keys, proxies) is dropped.
ENV_ALLOW = ("LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ")
# The whole environment of the host-side launcher: nothing from the server, the settings or a tool.
LAUNCHER_ENV = {"PATH": DEFAULT_PATH, "LANG": "C.UTF-8"}
LAUNCHER_CWD = Path("/")
# Runs a command outside the sandbox and kills its process group when the server dies (see the script).
GROUP_GUARD = str(Path(__file__).with_name("group_guard.py"))
# Joins the run's cgroups, then becomes bwrap: sh -c SCRIPT sh PROCS_FILE... -- BWRAP_ARGV...
_JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


class SandboxUnavailable(RuntimeError):
    """Commands cannot run: the sandbox does not work here and running unsandboxed was not allowed,
    or the settings ask for a mount the sandbox refuses (see bwrap.check_mounts)."""


_SANDBOX_DEFAULTS = SandboxSettings()


@dataclass
class SandboxLimits:
    # The user-facing limits default to the `sandbox.*` settings' values (written once, in config.py).
    timeout_seconds: float = _SANDBOX_DEFAULTS.timeout_seconds
    cpu_seconds: int = _SANDBOX_DEFAULTS.timeout_seconds
    memory_mb: int = _SANDBOX_DEFAULTS.memory_mb
    max_processes: int = 256
    max_file_mb: int = 256
    max_output_bytes: int = 64_000  # kept per stream (head + tail)
    kill_output_bytes: int = 64_000_000  # a stream printing more than this gets the process killed


@dataclass
class RunResult:
    exit_code: int | None  # None when the process was killed by us (timeout, cancel, output)
    stdout: str
    stderr: str
    duration_seconds: float
    sandboxed: bool
    timed_out: bool = False
    cancelled: bool = False
    output_truncated: bool = False
    killed_reason: str | None = None  # "timeout" | "cancelled" | "output limit" | "signal N (NAME)"
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    # bwrap itself failed before running the command (a mount or namespace it could not set up).
    sandbox_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _CappedStream:
    """Keeps the first and last `cap/2` bytes of a stream and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.cap // 2 - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            del self.tail[: max(0, len(self.tail) - self.cap // 2)]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        head = self.head.decode("utf-8", "replace")
        if not self.truncated:
            return head + self.tail.decode("utf-8", "replace")
        cut = self.total - len(self.head) - len(self.tail)
        return f"{head}\n[... {cut} bytes cut ...]\n{self.tail.decode('utf-8', 'replace')}"


@dataclass
class _Run:
    proc: asyncio.subprocess.Process
    streams: tuple[_CappedStream, _CappedStream]
    readers: list[asyncio.Task[None]] = field(default_factory=list)


def sandbox_env(extra_ro_paths: list[str], extra: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment the sandboxed command gets: an allow-list, never the server's own."""
    env = {k: os.environ[k] for k in ENV_ALLOW if k in os.environ}
    env.update({
        "PATH": sandbox_path_env(extra_ro_paths),
        "HOME": SANDBOX_HOME,
        "TMPDIR": "/tmp",
        "USER": "sandbox",
        "LOGNAME": "sandbox",
        "TERM": "dumb",
        "NO_COLOR": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "GEMMA_LSP_SANDBOX": "1",
    })
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra or {})
    return env


def _limit_prefix(prlimit: str | None, limits: SandboxLimits) -> list[str]:
    if not prlimit:
        return []
    mb = 1024 * 1024
    return [
        prlimit,
        f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}",  # SIGXCPU first, SIGKILL a second later
        f"--data={limits.memory_mb * mb}",
        f"--nproc={limits.max_processes}",
        f"--fsize={limits.max_file_mb * mb}",
        "--core=0",
        "--",
    ]


async def run_sandboxed(
    command: list[str],
    workspace: Path,
    limits: SandboxLimits | None = None,
    *,
    cancel: Any = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    extra_ro_paths: list[str] | None = None,
    allow_unsandboxed: bool = False,
    status: SandboxStatus | None = None,
) -> RunResult:
    """Run `command` (an argument vector) in the sandbox over `workspace` and collect its output.

    Never changes the workspace. Raises SandboxUnavailable when the sandbox cannot run here, unless
    `allow_unsandboxed` (then the command runs directly, with a warning logged for every run).
    `cancel` is anything with a `.cancelled` attribute (engine.base.CancelToken).
    """
    limits = limits or SandboxLimits()
    plan = _plan(command, Path(workspace), limits, status or sandbox_status(), env, cwd,
                 extra_ro_paths or [], allow_unsandboxed)
    try:
        result = await _run(plan, limits, cancel)
        if plan.cgroup and plan.cgroup.out_of_memory() and result.exit_code != 0:
            result.killed_reason = f"memory limit ({limits.memory_mb} MB for the whole run)"
        return result
    finally:
        if plan.cgroup:
            plan.cgroup.remove()


@dataclass
class _Plan:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    sandboxed: bool
    cgroup: RunCgroup | None = None
    seccomp_fd: int | None = None


def _plan(command: list[str], workspace: Path, limits: SandboxLimits, status: SandboxStatus,
          env: dict[str, str] | None, cwd: Path | None, extra_ro_paths: list[str],
          allow_unsandboxed: bool) -> _Plan:
    """Decide how to start the command: the bwrap line, its cgroup and seccomp fd, or refuse."""
    workspace = workspace.resolve()
    try:
        ro_paths = check_mounts(default_ro_paths() + extra_ro_paths)
    except UnsafeMount as error:
        raise SandboxUnavailable(str(error)) from None
    inner = _limit_prefix(status.prlimit_path, limits) + list(command)
    full_env = sandbox_env(ro_paths, env)
    if status.available and status.bwrap_path:
        return _launcher(status, workspace, inner, full_env, cwd or workspace, ro_paths, limits)
    if allow_unsandboxed:
        log.warning("running WITHOUT the sandbox (allow_unsandboxed is set; %s): %s", status.reason, command)
        return _Plan(_guarded(inner), full_env, cwd or workspace, False)
    raise SandboxUnavailable(status.reason)


def _launcher(status: SandboxStatus, workspace: Path, inner: list[str], env: dict[str, str], cwd: Path,
              ro_paths: list[str], limits: SandboxLimits) -> _Plan:
    """How the host starts a sandboxed run: every host-side process setting is decided here.

    The launcher's environment is LAUNCHER_ENV and its folder LAUNCHER_CWD; `env` goes to bwrap as
    --setenv arguments. With per-run cgroups, /bin/sh joins them before exec'ing bwrap, so nothing
    bwrap starts escapes the caps.
    """
    assert status.bwrap_path
    seccomp_fd = filter_fd() if status.seccomp else None
    argv = build_argv(status.bwrap_path, workspace, inner, cwd=cwd, extra_ro_paths=ro_paths,
                      seccomp_fd=seccomp_fd, env=env, tmpfs_mb=limits.memory_mb)
    cgroup = None
    memory = limits.memory_mb * 1024 * 1024 if status.memory_limit == "cgroup" else None
    pids = limits.max_processes if status.process_limit == "cgroup" else None
    if memory or pids:
        try:
            cgroup = RunCgroup(memory, pids)
        except OSError as error:  # the probe said it works; fall back to the rlimits, loudly
            log.warning("could not create this run's cgroup (%s): per-process limits only", error)
        if cgroup and cgroup.procs_files:
            argv = ["/bin/sh", "-c", _JOIN_CGROUPS, "sh", *cgroup.procs_files, "--", *argv]
    return _Plan(argv, dict(LAUNCHER_ENV), LAUNCHER_CWD, True, cgroup, seccomp_fd)


async def _run(plan: _Plan, limits: SandboxLimits, cancel: Any) -> RunResult:
    started = time.monotonic()
    fds = (plan.seccomp_fd,) if plan.seccomp_fd is not None else ()
    try:
        proc = await asyncio.create_subprocess_exec(
            *plan.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=plan.env, cwd=str(plan.cwd), start_new_session=True,
            pass_fds=fds,
        )
    finally:
        for fd in fds:
            os.close(fd)
    run = _Run(proc, (_CappedStream(limits.max_output_bytes), _CappedStream(limits.max_output_bytes)))
    run.readers = [asyncio.create_task(_pump(s, c)) for s, c in ((proc.stdout, run.streams[0]),
                                                                 (proc.stderr, run.streams[1]))]
    reason: str | None = None
    try:
        reason = await _supervise(run, limits, cancel, started)
    finally:
        if proc.returncode is None:  # also when our own task is cancelled
            _kill(proc)
            await proc.wait()
        await asyncio.gather(*run.readers, return_exceptions=True)
    code = proc.returncode
    if reason is None and code is not None and code < 0:
        reason = _signal_text(-code)
    elif reason is None and plan.sandboxed and code is not None and code > 128 and code - 128 in _SIGNALS:
        reason = _signal_text(code - 128)  # bwrap reports a child killed by signal N as 128+N
    out, err = run.streams
    sandbox_error = None
    if plan.sandboxed and code == 1 and out.total == 0 and err.text().startswith("bwrap:"):
        sandbox_error = err.text().strip()
    return RunResult(
        exit_code=None if reason in ("timeout", "cancelled", "output limit") else code,
        stdout=out.text(), stderr=err.text(), duration_seconds=round(time.monotonic() - started, 3),
        sandboxed=plan.sandboxed, timed_out=reason == "timeout", cancelled=reason == "cancelled",
        output_truncated=out.truncated or err.truncated, killed_reason=reason,
        stdout_bytes=out.total, stderr_bytes=err.total, sandbox_error=sandbox_error,
    )


async def _supervise(run: _Run, limits: SandboxLimits, cancel: Any, started: float) -> str | None:
    """Wait for the process; kill it on cancel, timeout or runaway output and say which."""
    waiter = asyncio.ensure_future(run.proc.wait())
    try:
        while not waiter.done():
            await asyncio.wait({waiter}, timeout=POLL_SECONDS)
            if waiter.done():
                break
            if cancel is not None and getattr(cancel, "cancelled", False):
                reason = "cancelled"
            elif time.monotonic() - started > limits.timeout_seconds:
                reason = "timeout"
            elif max(s.total for s in run.streams) > limits.kill_output_bytes:
                reason = "output limit"
            else:
                continue
            _kill(run.proc)
            await waiter
            return reason
        return None
    finally:
        if not waiter.done():
            waiter.cancel()


async def _pump(stream: asyncio.StreamReader | None, sink: _CappedStream) -> None:
    if stream is None:
        return
    while chunk := await stream.read(65536):
        sink.feed(chunk)


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


_SIGNALS = {s.value: s.name for s in signal.Signals}


def _signal_text(number: int) -> str:
    name = _SIGNALS.get(number, "?")
    meaning = {"SIGXCPU": ", CPU time limit", "SIGXFSZ": ", file size limit", "SIGKILL": ""}.get(name, "")
    return f"signal {number} ({name}{meaning})"


async def run_trusted(command: list[str], cwd: Path, limits: SandboxLimits, *, cancel: Any = None,
                      status: SandboxStatus | None = None, guarded: bool = True) -> RunResult:
    """Run one of *our own* helper programs (never workspace code) outside the sandbox, with the same
    rlimits, timeout, output cap and cancellation. For work that is risky only in time, such as
    matching a model-written regular expression. `guarded=False` leaves out group_guard.py (then the
    helper can outlive the server): only for measuring a bare process start (bench sandbox)."""
    status = status or sandbox_status()
    argv = _limit_prefix(status.prlimit_path, limits) + list(command)
    if guarded:
        argv = _guarded(argv)
    env = {**LAUNCHER_ENV, "PYTHONDONTWRITEBYTECODE": "1"}
    return await _run(_Plan(argv, env, cwd, False), limits, cancel)


def _guarded(argv: list[str]) -> list[str]:
    """`argv` under group_guard.py: it and what it starts die with this process (a run outside bwrap)."""
    return [sys.executable, "-I", "-S", GROUP_GUARD, str(os.getpid()), "--", *argv]
