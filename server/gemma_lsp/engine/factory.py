"""Builds the engine the settings ask for. The only place that knows every engine class."""

from __future__ import annotations

from pathlib import Path

from gemma_lsp.config import Settings
from gemma_lsp.engine.base import Engine
from gemma_lsp.models import presets


def create_engine(settings: Settings, allow_download: bool = True) -> Engine:
    if settings.script:
        from gemma_lsp.engine.scripted import ScriptedEngine
        from gemma_lsp.gemma4.template import variant_for

        # The script stands in for the model named: its prompts go through that model's template variant.
        return ScriptedEngine(Path(settings.script), variant=variant_for(settings.model))
    if settings.engine == "remote":
        from gemma_lsp.engine import remote

        return remote.from_settings(settings.remote)
    from gemma_lsp.engine.local import LocalEngine

    spec = presets.resolve(settings.model, settings.drafter_model, kv_cache_budget_mb=settings.kv_cache_budget_mb,
                           device=settings.device)
    return LocalEngine(spec, device=settings.device, dtype=settings.dtype, drafter=settings.drafter,
                       draft_tokens=settings.draft_tokens, allow_download=allow_download,
                       adaptive_draft=settings.adaptive_draft, kv_cache_budget_mb=settings.kv_cache_budget_mb)
