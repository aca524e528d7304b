"""The small types every tool module shares: settings, results and the per-call context."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gemma_lsp.config import SandboxSettings, Settings
from gemma_lsp.sandbox import SandboxLimits, SandboxStatus

# Files read_file refuses and search_text skips unless the settings say otherwise: gitignore-style
# patterns matched against the path relative to the workspace.
DEFAULT_DENY = (
    ".env", ".env.*", "*.env", ".envrc",
    "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "*.gpg", "*.asc",
    "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*", "*.ppk",
    ".netrc", ".npmrc", ".pypirc", ".git-credentials", ".pgpass", "credentials", "credentials.json",
    "*.tfstate", "*.tfvars", "service-account*.json",
    ".ssh/", ".aws/", ".gnupg/", ".docker/config.json", ".kube/config",
)


_SANDBOX_SETTINGS = SandboxSettings()
_RUNNER_LIMITS = SandboxLimits()


@dataclass
class ToolSettings:
    """Everything a user may tune about tools. Defaults are safe; see docs/protocol.md for the keys."""

    deny: tuple[str, ...] = DEFAULT_DENY
    # Defaults written once: the settings' in config.py, the sandbox runner's for the rest.
    timeout_seconds: float = _SANDBOX_SETTINGS.timeout_seconds
    memory_mb: int = _SANDBOX_SETTINGS.memory_mb
    max_processes: int = _RUNNER_LIMITS.max_processes
    max_file_mb: int = _RUNNER_LIMITS.max_file_mb
    max_output_bytes: int = _RUNNER_LIMITS.max_output_bytes
    tests_command: list[str] | None = None
    # Run commands without the sandbox when it cannot work here. Never from editor settings; logged
    # as a warning on every run.
    allow_unsandboxed: bool = False
    extra_ro_paths: list[str] = field(default_factory=list)
    max_read_bytes: int = 100_000
    max_list_entries: int = 500
    max_search_matches: int = 100
    search_timeout_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> ToolSettings:
        """From the server settings' `sandbox` and `tests` sub-objects, keeping defaults for the rest."""
        sandbox, tests = settings.sandbox, settings.tests
        return cls(
            timeout_seconds=float(sandbox.timeout_seconds),
            memory_mb=sandbox.memory_mb,
            allow_unsandboxed=sandbox.allow_unsandboxed,
            tests_command=tests.command,
        )

    def limits(self, timeout_seconds: float | None = None) -> SandboxLimits:
        timeout = min(timeout_seconds or self.timeout_seconds, self.timeout_seconds)
        return SandboxLimits(
            timeout_seconds=timeout, cpu_seconds=max(1, int(timeout)), memory_mb=self.memory_mb,
            max_processes=self.max_processes, max_file_mb=self.max_file_mb,
            max_output_bytes=self.max_output_bytes,
        )

    def replace(self, **changes: Any) -> ToolSettings:
        return dataclasses.replace(self, **changes)


@dataclass
class ToolResult:
    ok: bool
    content: dict[str, Any]  # defanged: safe to put in a prompt as the tool response
    error: str | None
    summary: str  # one line for progress reports, e.g. "tests: 3 failed, 12 passed"

    def for_model(self) -> dict[str, Any]:
        """What goes back to the model: the content, or {error: ...}."""
        return self.content if self.ok else {"error": self.error or "failed", **self.content}

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "summary": self.summary, "error": self.error, "content": self.content}


class ToolFailure(Exception):
    """A tool could not do what was asked; the message is for the model (and the user)."""


@dataclass
class ToolContext:
    workspace: Path  # resolved
    settings: ToolSettings
    status: SandboxStatus
    cancel: Any = None
    timeout_seconds: float | None = None
