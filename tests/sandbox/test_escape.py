"""The escape suite: hostile code in a workspace tries what the public sandboxes' own suites try.

Each attack runs for real inside bubblewrap with tight limits, reports what it managed in JSON, and the
test checks from the host side that nothing got out. Modelled on the suites of Anthropic's
sandbox-runtime and OpenAI Codex's Linux sandbox.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading

import psutil
import pytest

from gemma_lsp.engine.base import CancelToken
from gemma_lsp.sandbox import SandboxLimits, run_sandboxed

from .conftest import TIGHT, attack, snapshot

# Prepended to every attack: `probe(name, fn)` records fn's result or the exception it raised.
PRELUDE = textwrap.dedent("""
    import json, os, sys
    report = {}
    def probe(name, fn):
        try:
            report[name] = "ok: " + repr(fn())[:200]
        except BaseException as error:
            report[name] = "error: " + type(error).__name__ + ": " + str(error)[:120]
    def done():
        print(json.dumps(report), flush=True)
""")


def hostile(body: str) -> str:
    return PRELUDE + textwrap.dedent(body) + "\ndone()\n"


def blocked(report: dict, name: str) -> bool:
    return report[name].startswith("error:")


async def test_writes_outside_the_workspace_fail_and_leave_the_host_unchanged(workspace, outside):
    before = snapshot(outside)
    targets = {
        "usr": "/usr/evil", "etc": "/etc/evil", "root": "/root/evil",
        "outside": str(outside / "evil"),
        "outside_via_link": str(workspace / "link_to_outside_dir" / "evil"),
        "secret_via_link": str(workspace / "link_to_secret"),
    }
    code = hostile(f"""
        for name, path in {targets!r}.items():
            probe(name, lambda path=path: open(path, "w").write("pwned"))
        probe("tmp", lambda: open("/tmp/evil", "w").write("private tmp"))
        # The workspace's parent exists only as a mount point (in the private /tmp here).
        probe("parent", lambda: open({str(workspace.parent / "evil")!r}, "w").write("pwned"))
    """)
    result, report = await attack(workspace, code)
    assert result.exit_code == 0, result.stderr
    for name in targets:
        assert blocked(report, name), (name, report[name])
    assert report["tmp"].startswith("ok")  # /tmp is private: allowed, and gone afterwards
    assert snapshot(outside) == before
    assert not _exists(workspace.parent / "evil", "/tmp/evil",
                       *(p for p in targets.values() if "link" not in p))


def _exists(*paths) -> bool:
    return any(os.path.exists(p) for p in paths)


async def test_writes_inside_the_workspace_succeed_in_the_sandbox_and_are_discarded(workspace):
    before = snapshot(workspace)
    code = hostile("""
        probe("modify", lambda: open("src/app.py", "w").write("pwned"))
        probe("read_back", lambda: open("src/app.py").read())
        probe("create", lambda: open("new_file.txt", "w").write("x"))
        probe("mkdir", lambda: os.makedirs("build/out"))
        probe("delete", lambda: os.remove("README.md"))
        probe("chmod", lambda: os.chmod("src/app.py", 0o777))
        probe("replace_link", lambda: (os.remove("link_to_secret"), os.symlink("/", "link_to_secret")))
    """)
    result, report = await attack(workspace, code)
    assert result.exit_code == 0, result.stderr
    assert report["read_back"] == "ok: 'pwned'"  # the code really wrote...
    assert all(v.startswith("ok") for v in report.values()), report
    assert snapshot(workspace) == before  # ...and none of it reached the host


async def test_secrets_are_not_readable_directly_or_through_links_or_proc(workspace, outside):
    secret = str(outside / "secret.txt")
    code = hostile(f"""
        probe("shadow", lambda: open("/etc/shadow").read())
        probe("root_listing", lambda: sorted(os.listdir("/root")))
        probe("secret", lambda: open({secret!r}).read())
        probe("link_secret", lambda: open("link_to_secret").read())
        probe("link_shadow", lambda: open("link_to_shadow").read())
        probe("link_dir", lambda: os.listdir("link_to_outside_dir"))
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                probe("proc_root_" + pid, lambda pid=pid: open(f"/proc/{{pid}}/root{secret}").read())
                probe("proc_cwd_up_" + pid, lambda pid=pid: os.listdir(f"/proc/{{pid}}/cwd/.."))
        probe("ssh_keys", lambda: os.listdir(os.path.expanduser("~/.ssh")))
        probe("host_home", lambda: os.listdir("/home"))
        probe("ssl_private", lambda: os.listdir("/etc/ssl/private"))
    """)
    result, report = await attack(workspace, code)
    assert result.exit_code == 0, result.stderr
    assert "TOP-SECRET-TOKEN" not in result.stdout + result.stderr
    for name in ("shadow", "secret", "link_secret", "link_shadow", "link_dir", "ssh_keys", "host_home",
                 "ssl_private"):
        assert blocked(report, name), (name, report[name])
    # /root holds only the path down to this Python's prefix (bound so the interpreter runs).
    assert report["root_listing"] in ("ok: ['.pyenv']", "ok: []") or blocked(report, "root_listing")
    # /proc shows only the sandbox's own processes; their cwd parent is the workspace's parent as a
    # bare mount point, with the sibling secret folder absent.
    assert all("outside" not in v for k, v in report.items() if k.startswith("proc_cwd_up_")), report


@pytest.fixture
def loopback_server():
    """A TCP server on the host's loopback; records whether anything ever connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    connections: list[object] = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                connections.append(conn)
                conn.close()
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], connections
    stop.set()
    thread.join()
    server.close()


async def test_no_network_not_even_the_hosts_loopback_nor_dns(workspace, loopback_server):
    port, connections = loopback_server
    code = hostile(f"""
        import socket
        probe("tcp_loopback", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=1))
        probe("tcp_public", lambda: socket.create_connection(("1.1.1.1", 53), timeout=1))
        probe("dns", lambda: socket.getaddrinfo("example.com", 80))
        probe("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("8.8.8.8", 53)))
        probe("interfaces", lambda: sorted(os.listdir("/sys/class/net")) if os.path.exists("/sys") else [])
        probe("hostname", lambda: socket.gethostname())
    """)
    result, report = await attack(workspace, code)
    assert result.exit_code == 0, result.stderr
    for name in ("tcp_loopback", "tcp_public", "dns", "udp"):
        assert blocked(report, name), (name, report[name])
    assert connections == []
    assert report["hostname"] == "ok: 'sandbox'"


def _leftovers(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


async def test_fork_bomb_hits_the_process_limit_and_everything_dies(workspace):
    marker = "forkbomb-marker-7c1"
    code = hostile(f"""
        import time
        marker = {marker!r}
        children = 0
        def bomb():
            global children
            while True:
                if os.fork() == 0:
                    time.sleep(60)
                    os._exit(0)
                children += 1
        probe("bomb", bomb)
        report["children"] = children
        done()
        while True:  # now a real bomb: every process forks forever, until the timeout kills it all
            try:
                os.fork()
            except OSError:
                pass
    """)
    limits = SandboxLimits(**{**TIGHT.__dict__, "timeout_seconds": 2, "max_processes": 32})
    result, report = await attack(workspace, code, limits)
    assert report is not None, result.stderr
    assert "BlockingIOError" in report["bomb"] or "Resource temporarily unavailable" in report["bomb"]
    assert report["children"] < 32
    assert result.timed_out and result.killed_reason == "timeout"
    await asyncio.sleep(0.2)
    assert _leftovers(marker) == []


async def test_memory_hog_is_stopped_by_the_memory_limit(workspace):
    code = hostile("""
        hoard = []
        def hog():
            while True:
                hoard.append(bytearray(8 * 1024 * 1024))
        probe("hog", hog)
        report["mb"] = 8 * len(hoard)
    """)
    result, report = await attack(workspace, code)
    assert report is not None, result.stderr
    assert "MemoryError" in report["hog"]
    assert report["mb"] <= TIGHT.memory_mb


async def test_infinite_loop_is_killed_by_the_wall_clock_with_its_children(workspace):
    marker = "spinner-marker-31a"
    code = ("import subprocess\n"
            f"subprocess.Popen(['bash', '-c', 'exec -a {marker} sleep 600'])\n"
            "while True:\n    pass\n")
    limits = SandboxLimits(**{**TIGHT.__dict__, "timeout_seconds": 1.5})
    result, _ = await attack(workspace, code, limits)
    assert result.timed_out and result.exit_code is None and result.killed_reason == "timeout"
    await asyncio.sleep(0.2)
    assert _leftovers(marker) == []


async def test_cpu_limit_kills_a_spinner_before_the_wall_clock(workspace):
    limits = SandboxLimits(**{**TIGHT.__dict__, "timeout_seconds": 30, "cpu_seconds": 1})
    result, _ = await attack(workspace, "while True:\n    pass\n", limits)
    assert not result.timed_out
    assert "CPU time limit" in (result.killed_reason or "") or "SIGKILL" in (result.killed_reason or "")


async def test_huge_output_is_capped_and_a_flood_is_killed(workspace):
    code = "import sys\nwhile True:\n    sys.stdout.write('A' * 65536)\n"
    result, _ = await attack(workspace, code)
    assert result.killed_reason == "output limit"
    assert result.output_truncated
    assert len(result.stdout) < TIGHT.max_output_bytes + 200
    assert "bytes cut" in result.stdout


async def test_big_file_is_stopped_by_the_file_size_limit(workspace):
    code = hostile("""
        def fill():
            with open("big.bin", "wb") as f:
                for _ in range(64):
                    f.write(b"x" * 1024 * 1024)
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        probe("fill", fill)
    """)
    result, report = await attack(workspace, code)
    assert report is not None, result.stderr
    assert "File too large" in report["fill"]
    assert not (workspace / "big.bin").exists()


@pytest.fixture
def decoy():
    """A host process standing in for the server: the sandbox must not be able to signal it."""
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


async def test_cannot_signal_or_ptrace_the_server(workspace, decoy):
    server_pid = os.getpid()
    code = hostile(f"""
        import ctypes, signal
        libc = ctypes.CDLL(None, use_errno=True)
        PTRACE_ATTACH = 16
        def ptrace(pid):
            if libc.ptrace(PTRACE_ATTACH, pid, None, None) != 0:
                raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            return "attached"
        probe("kill_decoy", lambda: os.kill({decoy.pid}, signal.SIGKILL))
        probe("see_server", lambda: os.kill({server_pid}, 0))
        probe("ptrace_server", lambda: ptrace({server_pid}))
        probe("ptrace_parent", lambda: ptrace(os.getppid()))
        probe("kill_init", lambda: os.kill(1, signal.SIGKILL))
        probe("pids", lambda: sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
    """)
    result, report = await attack(workspace, code)
    assert result.exit_code == 0, result.stderr
    for name in ("kill_decoy", "see_server", "ptrace_server", "ptrace_parent"):
        assert blocked(report, name), (name, report[name])
    assert decoy.poll() is None  # still running
    pids = eval(report["pids"][len("ok: "):])  # noqa: S307 - our own repr of a list of ints
    assert max(pids) < 100  # a fresh PID namespace: only the sandbox's few processes


async def test_kill_minus_one_only_kills_the_sandbox(workspace, decoy):
    result, _ = await attack(workspace, "import os, signal\nos.kill(-1, signal.SIGKILL)\nprint('alive')\n")
    assert decoy.poll() is None
    assert result.exit_code is not None


async def test_no_keystroke_injection_into_a_terminal(workspace):
    code = hostile("""
        import fcntl, termios
        for fd in (0, 1, 2):
            probe(f"tiocsti_{fd}", lambda fd=fd: fcntl.ioctl(fd, termios.TIOCSTI, b"x"))
        probe("dev_tty", lambda: open("/dev/tty", "wb"))
        probe("sid_is_own", lambda: os.getsid(0) == os.getpid())
    """)
    result, report = await attack(workspace, code)
    assert result.exit_code == 0, result.stderr
    for name in ("tiocsti_0", "tiocsti_1", "tiocsti_2", "dev_tty"):
        assert blocked(report, name), (name, report[name])


async def test_privilege_escalation_fails(workspace):
    code = hostile("""
        probe("uid", lambda: (os.getuid(), os.geteuid(), os.getgid()))
        probe("setuid0", lambda: os.setuid(0))
        probe("userns", lambda: os.unshare(os.CLONE_NEWUSER) if hasattr(os, "unshare") else 1 / 0)
        probe("mount", lambda: __import__("subprocess").run(["mount", "-o", "remount,rw", "/usr"],
                                                             check=True, capture_output=True))
        probe("no_new_privs", lambda: [l for l in open("/proc/self/status") if l.startswith("NoNewPrivs")])
        probe("caps", lambda: [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")])
    """)
    result, report = await attack(workspace, code)
    assert result.exit_code == 0, result.stderr
    assert report["uid"] == "ok: (65534, 65534, 65534)"
    for name in ("setuid0", "userns", "mount"):
        assert blocked(report, name), (name, report[name])
    assert report["caps"] == "ok: ['0000000000000000']"


async def test_kernel_knobs_in_proc_are_read_only(workspace):
    # Every file of /proc outside the sandbox's own processes is opened for writing, never written:
    # succeeding to open one is already the failure (as root, kernel.core_pattern would be a way out).
    code = hostile("""
        checked, writable = [], []
        for root, dirs, files in os.walk("/proc"):
            top = root.split("/")[2] if root.count("/") >= 2 else ""
            if top.isdigit() or top in ("self", "thread-self"):
                dirs[:] = []
                continue
            for name in files:
                path = os.path.join(root, name)
                checked.append(path)
                try:
                    os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
                    writable.append(path)
                except OSError:
                    pass
        report["checked"] = len(checked)
        report["core_pattern_checked"] = "/proc/sys/kernel/core_pattern" in checked
        report["writable"] = writable
        probe("sys_mounted", lambda: os.listdir("/sys"))
        probe("kmsg", lambda: open("/dev/kmsg").read(1))
    """)
    result, report = await attack(workspace, code)
    assert report is not None, result.stderr
    assert report["core_pattern_checked"] and report["checked"] > 100
    assert report["writable"] == []
    assert report["sys_mounted"].startswith("error:") and report["kmsg"].startswith("error:")


async def test_environment_is_scrubbed(workspace, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws_leak")
    result, _ = await attack(workspace, "import os\nprint(sorted(os.environ.items()))\n")
    assert "leak" not in result.stdout
    assert "'HOME', '/tmp/home'" in result.stdout


async def test_cancel_token_kills_the_tree_promptly(workspace):
    marker = "cancel-marker-88f"
    token = CancelToken()
    code = f"import subprocess\nsubprocess.Popen(['bash', '-c', 'exec -a {marker} sleep 600'])\n" \
           "print('started', flush=True)\nwhile True:\n    pass\n"
    task = asyncio.create_task(attack(workspace, code, SandboxLimits(timeout_seconds=60), cancel=token))
    await asyncio.sleep(0.5)
    token.cancel()
    result, _ = await asyncio.wait_for(task, timeout=5)
    assert result.cancelled and result.killed_reason == "cancelled"
    await asyncio.sleep(0.2)
    assert _leftovers(marker) == []


async def test_cancelling_the_awaiting_task_kills_the_tree(workspace):
    marker = "taskcancel-marker-5d2"
    code = f"import os\nos.execvp('bash', ['bash', '-c', 'exec -a {marker} sleep 600'])\n"
    task = asyncio.create_task(run_sandboxed([sys.executable, "-c", code], workspace, SandboxLimits()))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.2)
    assert _leftovers(marker) == []


async def test_server_keeps_serving_after_the_attacks(workspace):
    result, _ = await attack(workspace, "print(open('src/app.py').read())")
    assert result.exit_code == 0 and "def add" in result.stdout
    assert os.getpid() and signal.getsignal(signal.SIGTERM) is not None
