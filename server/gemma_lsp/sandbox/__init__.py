"""The bubblewrap sandbox every tool command runs in. See `bwrap` for what the code inside can see."""

from gemma_lsp.sandbox.bwrap import SandboxStatus, find_bwrap, probe, sandbox_status
from gemma_lsp.sandbox.runner import (
    RunResult,
    SandboxLimits,
    SandboxUnavailable,
    run_sandboxed,
    run_trusted,
)

__all__ = [
    "RunResult",
    "SandboxLimits",
    "SandboxStatus",
    "SandboxUnavailable",
    "find_bwrap",
    "probe",
    "run_sandboxed",
    "run_trusted",
    "sandbox_status",
]
