"""Run a command and take its whole process group down when the server dies: `group_guard.py SERVER_PID -- ARGV...`.

For everything the server runs outside the sandbox: our own helpers (run_trusted: search_text's
matcher) and command runs the user allowed unsandboxed. Inside the sandbox the PID namespace ends
every process when bubblewrap dies; outside, nothing ties a process to the server, and
`PR_SET_PDEATHSIG` would reach only the process the server started, not, say, a test suite's own
children. So the server starts this guard as the leader of a new process group, and the guard:

- asks the kernel for SIGTERM when the server dies (the kernel ties that to the server's thread that
  started the guard: the event loop's, which awaits the run) and answers it by SIGKILLing its whole
  group, itself included: the command and everything it started that did not leave the group;
- if the server died before that was armed (during the guard's start-up), ends at once, starting
  nothing;
- starts ARGV in its own group, waits, and ends the way ARGV ended (its exit code, or the same signal).

The prctl happens here, after exec, rather than in a `preexec_fn` of the server: that would make
Python fork the whole server instead of vfork'ing it (see lifetime.py). A standalone script (standard
library only, run with `python -I -S`): it must not depend on the environment the command gets.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def _kill_group(*_: object) -> None:
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: group_guard.py PARENT_PID -- ARGV...", file=sys.stderr)
        return 2
    parent, command = int(argv[0]), argv[2:]
    if os.getpgrp() != os.getpid():  # the runner starts us in a new session; never kill another's group
        os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, _kill_group)
    # Ctrl-C in a terminal reaches the whole group: the command decides, the guard waits for it. A
    # handler, not SIG_IGN, which the command would inherit.
    signal.signal(signal.SIGINT, lambda *_: None)
    # The interpreter's own symbols include libc's (find_library would start ldconfig: slow).
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # the server died before the prctl: start nothing
        return 1
    try:  # posix_spawn, not subprocess: importing subprocess would double this guard's start-up
        child = os.posix_spawnp(command[0], command, os.environ)
    except OSError as error:
        print(f"cannot start {command[0]}: {error}", file=sys.stderr)
        return 127
    code = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
    if code >= 0:
        return code
    # End by the same signal, so the runner reports it as it would without the guard; no core file.
    import resource

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
    return 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
