"""A small seccomp filter handed to bwrap (`--seccomp FD`): a second wall behind the namespaces.

It refuses, with EPERM, the system calls sandboxed test code never needs and attackers love: ptrace
and process_vm_readv/writev (reading or steering other processes, even the sandbox's own init),
the kernel keyring, bpf, perf_event_open, userfaultfd, and ioctl(TIOCSTI/TIOCLINUX) (typing into a
terminal). Built by hand as classic BPF so it needs no library; only for x86-64 and aarch64 — other
architectures run without it (the namespaces still apply).
"""

from __future__ import annotations

import os
import platform
import struct

# struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_X32_BIT = 0x40000000
_RET_K = 0x06
_ALLOW = 0x7FFF0000
_ERRNO_EPERM = 0x00050000 | 1
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C

# (audit arch, {name: number}) per machine.
_ARCHES = {
    "x86_64": (0xC000003E, {"ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
                            "add_key": 248, "request_key": 249, "keyctl": 250, "perf_event_open": 298,
                            "bpf": 321, "userfaultfd": 323, "ioctl": 16}),
    "aarch64": (0xC00000B7, {"ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
                             "add_key": 217, "request_key": 218, "keyctl": 219, "perf_event_open": 241,
                             "bpf": 280, "userfaultfd": 282, "ioctl": 29}),
}


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def filter_program(machine: str | None = None) -> bytes | None:
    """The compiled filter for this machine, or None where we have no syscall table."""
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit_arch, numbers = arch
    denied = [n for name, n in numbers.items() if name != "ioctl"]
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
    prog += [
        (_JEQ_K, numbers["ioctl"], 0, 3),  # not ioctl -> allow
        (_LD_W_ABS, 24, 0, 0),  # low 32 bits of args[1] (little-endian): the ioctl request
        (_JEQ_K, _TIOCSTI, to_eperm, 0),
        (_JEQ_K, _TIOCLINUX, to_eperm, 0),
        (_RET_K, _ALLOW, 0, 0),
        (_RET_K, _ERRNO_EPERM, 0, 0),
    ]
    last = len(prog) - 1
    code = b""
    for pc, (op, k, jt, jf) in enumerate(prog):
        jt = last - pc - 1 if jt == to_eperm else jt
        code += _insn(op, k, jt, jf)
    return code


def filter_fd() -> int | None:
    """A readable fd positioned at the start of the compiled filter (bwrap reads it to the end)."""
    program = filter_program()
    if program is None:
        return None
    fd = os.memfd_create("gemma-lsp-seccomp", 0)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
