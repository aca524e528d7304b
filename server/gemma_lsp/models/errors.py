"""The errors a model can fail with, and the loading-progress callback.

They live at the bottom layer that raises them (the loader), so that models/ never imports engine/;
`gemma_lsp.engine.base` re-exports them as part of the engine interface.
"""

from __future__ import annotations

from collections.abc import Callable


class EngineError(Exception):
    """A request failed inside the engine or its model; the message is meant for the user."""


class ModelUnavailable(EngineError):
    """The model cannot be used (weights missing, failed to load). `fix` tells the user what to do."""

    def __init__(self, message: str, fix: str = "") -> None:
        super().__init__(message)
        self.fix = fix


ProgressCallback = Callable[[str, int | None], None]
"""(message, percentage or None) — reported while loading."""
