"""`python -m tests.reliability.faulty_server [gemma-lsp options]`: the real server with faults that a
test can inject into the model's forward pass. Test-only; nothing in the server knows about it.

Set GEMMA_LSP_TEST_FAULT_DIR=DIR. Before every forward pass of the decoder of a target model the
server loads (also one loaded after a settings change), the wrapper looks in DIR:

    oom      removed, then torch.OutOfMemoryError is raised (one shot, like a CUDA OOM mid-decode)
    memory   removed, then MemoryError is raised (one shot)
    error    removed, then RuntimeError is raised (one shot)
    slow     every forward first sleeps float(contents) seconds (until the file is removed)

The fault fires inside the model worker thread, exactly where a real one would.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from gemma_lsp import cli
from gemma_lsp.models import loader

ONE_SHOT = {"oom": "OutOfMemoryError", "memory": "MemoryError", "error": "RuntimeError"}


def _raise(kind: str) -> None:
    import torch

    message = f"injected {kind} fault"
    if kind == "oom":
        raise torch.OutOfMemoryError(f"CUDA out of memory ({message})")
    if kind == "memory":
        raise MemoryError(message)
    raise RuntimeError(message)


def _check(folder: Path) -> None:
    for kind in ONE_SHOT:
        try:
            os.remove(folder / kind)  # whoever removes the file takes the fault: one shot
        except FileNotFoundError:
            continue
        _raise(kind)
    try:
        time.sleep(float((folder / "slow").read_text() or 0))
    except (FileNotFoundError, ValueError):
        pass


def _wrap(model: Any, folder: Path) -> None:
    forward = model.forward

    def faulty_forward(*args: Any, **kwargs: Any) -> Any:
        _check(folder)
        return forward(*args, **kwargs)

    model.forward = faulty_forward


def install(folder: Path) -> None:
    real_load = loader.load

    def load(*args: Any, **kwargs: Any) -> loader.LoadedModel:
        loaded = real_load(*args, **kwargs)
        # The decoder stack: both transformers' generate (through the model's forward) and our own
        # speculative decoder (which calls it directly) run every target step through it.
        _wrap(loaded.target.get_decoder(), folder)
        return loaded

    loader.load = load  # type: ignore[assignment]


if __name__ == "__main__":
    install(Path(os.environ["GEMMA_LSP_TEST_FAULT_DIR"]))
    raise SystemExit(cli.main())
