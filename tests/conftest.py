"""Shared test setup: servers start from this checkout, offline, with a private cache folder."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVER_SRC = REPO / "server"

# No test may reach the network: the hub is off for this process and every server it starts.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Logs, transcripts and explanations go to a throwaway cache, not the developer's home folder.
os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="gemma-lsp-test-cache-"))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(SERVER_SRC)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)
if str(SERVER_SRC) not in sys.path:
    sys.path.insert(0, str(SERVER_SRC))


def server_command(*args: str) -> list[str]:
    """The command that starts this checkout's server as a subprocess."""
    return [sys.executable, "-m", "gemma_lsp", *args]


def server_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
