"""Loading a target + drafter pair through the same `from_pretrained` path real checkpoints use."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemma_lsp.engine.base import ModelUnavailable, ProgressCallback
from gemma_lsp.models import presets, tiny
from gemma_lsp.models.presets import ModelSpec

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    target: Any
    drafter: Any | None
    tokenizer: Any
    device: str
    dtype: str
    spec: ModelSpec


def pick_device(setting: str) -> str:
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(setting: str, device: str) -> Any:
    import torch

    if setting == "auto":
        # bf16 on GPUs; fp32 on CPU where bf16 matmuls are slow on most processors.
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, setting)


def _local_folder(repo_or_path: str, spec: ModelSpec, allow_download: bool,
                  progress: ProgressCallback | None) -> Path:
    """A folder holding the checkpoint: a local path, the HF cache, or (if allowed) a download."""
    if spec.is_local or Path(repo_or_path).is_dir():  # a preset may pair with a local drafter folder
        path = Path(repo_or_path)
        if not path.is_dir():
            raise ModelUnavailable(
                f"Model folder not found: {path}",
                fix="Set gemma.model to an existing folder holding config.json and the weights, "
                "or to a preset (e2b, e4b, 26b, 31b).",
            )
        if not (path / "config.json").is_file():
            raise ModelUnavailable(
                f"{path} is not a model folder (no config.json)",
                fix="Point gemma.model at the folder that contains config.json and *.safetensors.",
            )
        return path
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_or_path, local_files_only=True))
    except Exception:
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or not allow_download
    if offline:
        raise ModelUnavailable(
            f"The weights of {repo_or_path} are not in the Hugging Face cache "
            f"({os.environ.get('HF_HUB_CACHE') or os.environ.get('HF_HOME') or '~/.cache/huggingface'}) "
            "and downloading is off.",
            fix=f"Run `{presets.download_command(spec)}` (accept the Gemma license on the hub and "
            "`hf auth login` first), or set gemma.model to a local folder.",
        )
    if progress:
        progress(f"downloading {repo_or_path}", None)
    try:
        return Path(snapshot_download(repo_or_path))
    except Exception as error:
        raise ModelUnavailable(
            f"Could not download {repo_or_path}: {error}",
            fix=f"Run `{presets.download_command(spec)}` on a machine with access to the hub "
            "(accept the Gemma license and `hf auth login` first), or set gemma.model to a local folder.",
        ) from error


def load(spec: ModelSpec, device: str = "auto", dtype: str = "auto", drafter: bool = True,
         allow_download: bool = True, progress: ProgressCallback | None = None) -> LoadedModel:
    """Load tokenizer, target and (optionally) drafter. Raises ModelUnavailable with a fix."""

    device = pick_device(device)
    torch_dtype = pick_dtype(dtype, device)
    dtype_name = str(torch_dtype).removeprefix("torch.")
    if spec.tiny:
        if progress:
            progress("building the tiny random Gemma 4 pair", 30)
        pair = tiny.build()
        target = pair.target.to(device=device, dtype=torch_dtype)
        draft = pair.drafter.to(device=device, dtype=torch_dtype) if drafter else None
        return LoadedModel(target, draft, pair.tokenizer, device, dtype_name, spec)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    target_dir = _local_folder(spec.target, spec, allow_download, progress)
    drafter_dir = None
    if drafter and spec.drafter:
        drafter_dir = _local_folder(spec.drafter, spec, allow_download, progress)
    device_map: Any = "auto" if device == "cuda" else device
    try:
        if progress:
            progress(f"loading tokenizer from {target_dir.name}", 5)
        tokenizer = AutoTokenizer.from_pretrained(target_dir)
        if progress:
            progress(f"loading {spec.name} ({dtype_name} on {device})", 10)
        target = AutoModelForCausalLM.from_pretrained(target_dir, dtype=torch_dtype, device_map=device_map)
        target.eval()
        draft = None
        if drafter_dir is not None:
            if progress:
                progress("loading the drafter", 80)
            draft = AutoModelForCausalLM.from_pretrained(drafter_dir, dtype=torch_dtype)
            draft.to(_first_device(target)).eval()
    except ModelUnavailable:
        raise
    except Exception as error:
        raise ModelUnavailable(
            f"Could not load {spec.name}: {type(error).__name__}: {error}",
            fix="Check that the folder holds a complete Gemma 4 checkpoint (config.json, tokenizer, "
            "all *.safetensors shards); re-download it if it is partial.",
        ) from error
    return LoadedModel(target, draft, tokenizer, device, dtype_name, spec)


def _first_device(model: Any) -> Any:
    return next(model.parameters()).device
