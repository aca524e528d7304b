"""Where the log goes besides the editor: stderr, and the file --log-file / gemma.logFile names.

Shared by the command line (at start-up) and the server (when the setting changes). Nothing but LSP
traffic is ever written to stdout in server mode.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
log = logging.getLogger(__name__)


def setup_logging(level: str, log_file: str | None) -> None:
    root = logging.getLogger("gemma_lsp")
    root.setLevel(level)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(stderr)
    if log_file:
        handler = open_log_file(log_file)
        handler.gemma_setting = True  # type: ignore[attr-defined]  # replaced when the setting changes
        root.addHandler(handler)


def open_log_file(log_file: str) -> logging.Handler:
    """A handler appending to `log_file`, created owner-only (logs may quote the user's code)."""
    path = Path(log_file).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # its folder too, whatever the umask
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(FORMAT))
    return handler


def apply_log_file(path: str | None) -> None:
    """Log to `path` as well (owner-only), replacing the file a previous setting named."""
    root = logging.getLogger("gemma_lsp")
    for handler in [h for h in root.handlers if getattr(h, "gemma_setting", False)]:
        root.removeHandler(handler)
        handler.close()
    if not path:
        return
    try:
        handler = open_log_file(path)
    except OSError as error:
        log.error("cannot write the log file %s: %s", path, error)
        return
    handler.gemma_setting = True  # type: ignore[attr-defined]
    root.addHandler(handler)
