"""A small seccomp filter handed to bwrap (`--seccomp FD`): a second wall behind the namespaces.

It refuses, with EPERM, the system calls sandboxed test code never needs and attackers love: ptrace
and process_vm_readv/writev (reading or steering other processes, even the sandbox's own init),
the kernel keyring, bpf, perf_event_open, userfaultfd, io_uring (a large kernel attack surface that
also bypasses seccomp for the operations it queues), socket(AF_NETLINK) and socket(AF_VSOCK) (kernel
interfaces and the hypervisor's host channel; the sandbox has no network anyway), and
ioctl(TIOCSTI/TIOCLINUX) (typing into a terminal).

The filter is compiled by libseccomp (PyPI `pyseccomp`, a ctypes binding over the system's
libseccomp.so.2), which knows every architecture's syscall numbers. Where that library is missing,
a hand-built classic BPF program with the same rules is used on x86-64 and aarch64; elsewhere the
sandbox runs without the filter (the namespaces still apply) and the status says so.
"""

from __future__ import annotations

import errno
import logging
import os
import platform
import socket
import struct

log = logging.getLogger(__name__)

# What is refused: plain syscalls, and (syscall, first argument) pairs.
DENIED_CALLS = ("ptrace", "process_vm_readv", "process_vm_writev", "add_key", "request_key", "keyctl",
                "perf_event_open", "bpf", "userfaultfd", "io_uring_setup", "io_uring_enter",
                "io_uring_register")
AF_VSOCK = getattr(socket, "AF_VSOCK", 40)
AF_NETLINK = getattr(socket, "AF_NETLINK", 16)
DENIED_SOCKET_FAMILIES = (AF_NETLINK, AF_VSOCK)
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C
DENIED_IOCTLS = (_TIOCSTI, _TIOCLINUX)


def libseccomp_program() -> bytes | None:
    """The filter compiled by libseccomp for this machine, or None when pyseccomp cannot load it."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError, RuntimeError):  # the binding raises when libseccomp.so.2 is missing
        return None
    try:
        flt = sc.SyscallFilter(defaction=sc.ALLOW)
        # Another ABI of this machine (i386 or x32 on x86-64): refuse everything rather than kill.
        flt.set_attr(sc.Attr.ACT_BADARCH, sc.ERRNO(errno.EPERM))
        for name in DENIED_CALLS:
            flt.add_rule(sc.ERRNO(errno.EPERM), name)
        for family in DENIED_SOCKET_FAMILIES:
            flt.add_rule(sc.ERRNO(errno.EPERM), "socket", sc.Arg(0, sc.EQ, family))
        for request in DENIED_IOCTLS:
            # Compare the low 32 bits only: the kernel reads the request as an unsigned int.
            flt.add_rule(sc.ERRNO(errno.EPERM), "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
        fd = os.memfd_create("gemma-lsp-seccomp-build", 0)
        with os.fdopen(fd, "w+b") as sink:
            flt.export_bpf(sink)
            sink.seek(0)
            return sink.read()
    except (OSError, ValueError, RuntimeError) as error:
        log.warning("libseccomp could not build the filter (%s); using the built-in one", error)
        return None


# ------------------------------------------------------------------------- the hand-built fallback

# struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_X32_BIT = 0x40000000
_RET_K = 0x06
_ALLOW = 0x7FFF0000
_ERRNO_EPERM = 0x00050000 | errno.EPERM

# (audit arch, {name: number}) per machine. io_uring's numbers are the same on every architecture.
_IO_URING = {"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427}
_ARCHES = {
    "x86_64": (0xC000003E, {"ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
                            "add_key": 248, "request_key": 249, "keyctl": 250, "perf_event_open": 298,
                            "bpf": 321, "userfaultfd": 323, **_IO_URING, "ioctl": 16, "socket": 41}),
    "aarch64": (0xC00000B7, {"ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
                             "add_key": 217, "request_key": 218, "keyctl": 219, "perf_event_open": 241,
                             "bpf": 280, "userfaultfd": 282, **_IO_URING, "ioctl": 29, "socket": 198}),
}


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def filter_program(machine: str | None = None) -> bytes | None:
    """The hand-built filter for `machine` (default: this one), or None where we have no table."""
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit_arch, numbers = arch
    denied = [numbers[name] for name in DENIED_CALLS]
    # Checks that refuse jump to the EPERM return at the very end; offsets are counted backwards
    # from it once the program is laid out (BPF jumps are relative and forward-only).
    to_eperm = -1
    prog: list[tuple[int, int, int, int]] = [
        (_LD_W_ABS, 4, 0, 0),  # seccomp_data.arch
        (_JEQ_K, audit_arch, 1, 0),
        (_RET_K, _ERRNO_EPERM, 0, 0),  # another ABI (i386 via int 0x80): refuse everything
        (_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        (_JGE_K, _X32_BIT, to_eperm, 0),  # the x32 ABI numbers its calls from 0x40000000
    ]
    prog += [(_JEQ_K, number, to_eperm, 0) for number in denied]
    families = DENIED_SOCKET_FAMILIES
    prog += [
        (_JEQ_K, numbers["socket"], 0, 1 + len(families) + 1),  # not socket -> the ioctl check
        (_LD_W_ABS, 16, 0, 0),  # low 32 bits of args[0] (little-endian): the address family
        *[(_JEQ_K, family, to_eperm, 0) for family in families],
        (_RET_K, _ALLOW, 0, 0),
        (_JEQ_K, numbers["ioctl"], 0, 1 + len(DENIED_IOCTLS)),  # not ioctl -> allow
        (_LD_W_ABS, 24, 0, 0),  # low 32 bits of args[1]: the ioctl request
        *[(_JEQ_K, request, to_eperm, 0) for request in DENIED_IOCTLS],
        (_RET_K, _ALLOW, 0, 0),
        (_RET_K, _ERRNO_EPERM, 0, 0),
    ]
    last = len(prog) - 1
    code = b""
    for pc, (op, k, jt, jf) in enumerate(prog):
        jt = last - pc - 1 if jt == to_eperm else jt
        code += _insn(op, k, jt, jf)
    return code


def compiled_program() -> tuple[bytes | None, str]:
    """(the filter for this machine, which compiler made it: "libseccomp", "built-in" or "none")."""
    program = libseccomp_program()
    if program is not None:
        return program, "libseccomp"
    program = filter_program()
    return program, "built-in" if program is not None else "none"


def filter_fd(program: bytes | None = None) -> int | None:
    """A readable fd positioned at the start of the compiled filter (bwrap reads it to the end)."""
    program = program if program is not None else _cached_program()
    if program is None:
        return None
    fd = os.memfd_create("gemma-lsp-seccomp", 0)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


_PROGRAM: list[bytes | None] = []


def _cached_program() -> bytes | None:
    if not _PROGRAM:
        program, source = compiled_program()
        log.info("seccomp filter: %s", source)
        _PROGRAM.append(program)
    return _PROGRAM[0]
