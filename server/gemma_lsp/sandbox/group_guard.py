"""Run a command and take its whole process group down when the server dies: `group_guard.py SERVER_PID -- ARGV...`.

For command runs outside the sandbox (only when the user allowed running unsandboxed). Inside the
sandbox the PID namespace ends every process when bubblewrap dies; outside, `PR_SET_PDEATHSIG` reaches
only the process the server started, and a test suite's own children would outlive the server. So the
server starts this guard as the leader of a new process group, and the guard:

- asks the kernel for SIGTERM when the server dies (the server armed SIGKILL before exec, which covers
  the guard's start-up, when nothing else runs yet), and answers it by SIGKILLing its whole group,
  itself included: the command and everything it started that did not leave the group;
- starts ARGV in its own group, waits, and ends the way ARGV ended (its exit code, or the same signal).

A standalone script (standard library only, run with `python -I -S`): it must not depend on the
environment the command gets.
"""

import ctypes
import ctypes.util
import os
import resource
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def _kill_group(*_: object) -> None:
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: group_guard.py PARENT_PID -- ARGV...", file=sys.stderr)
        return 2
    parent, command = int(argv[0]), argv[2:]
    signal.signal(signal.SIGTERM, _kill_group)
    # Ctrl-C in a terminal reaches the whole group: the command decides, the guard waits for it. A
    # handler, not SIG_IGN, which the command would inherit.
    signal.signal(signal.SIGINT, lambda *_: None)
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # the server died before the prctl: nothing to start
        _kill_group()
    try:
        child = subprocess.Popen(command)
    except OSError as error:
        print(f"cannot start {command[0]}: {error}", file=sys.stderr)
        return 127
    code = child.wait()
    if code >= 0:
        return code
    # End by the same signal, so the runner reports it as it would without the guard; no core file.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
    return 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
