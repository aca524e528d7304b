"""Builds the engine the settings ask for. The only place that knows every engine class."""

from __future__ import annotations

import os
from pathlib import Path

from gemma_lsp.config import Settings
from gemma_lsp.engine.base import Engine, ModelUnavailable
from gemma_lsp.models import presets


def create_engine(settings: Settings, allow_download: bool = True) -> Engine:
    if settings.script:
        from gemma_lsp.engine.scripted import ScriptedEngine

        return ScriptedEngine(Path(settings.script))
    if settings.engine == "remote":
        try:
            from gemma_lsp.engine.remote import RemoteEngine
        except ImportError as error:  # pragma: no cover - only while the remote engine is missing
            raise ModelUnavailable(f"the remote engine is not available: {error}") from error
        return RemoteEngine(
            url=settings.remote.url,
            model=settings.remote.model,
            api_key=os.environ.get(settings.remote.api_key_env) or None,
            timeout=settings.remote.timeout_seconds,
        )
    from gemma_lsp.engine.local import LocalEngine

    spec = presets.resolve(settings.model, settings.drafter_model)
    return LocalEngine(spec, device=settings.device, dtype=settings.dtype, drafter=settings.drafter,
                       draft_tokens=settings.draft_tokens, allow_download=allow_download)
