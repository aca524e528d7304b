"""Loading a target + drafter pair through the same `from_pretrained` path real checkpoints use."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gemma_lsp.client_terms import setting_name
from gemma_lsp.config import DEFAULT_KV_CACHE_BUDGET_MB
from gemma_lsp.models import presets, tiny
from gemma_lsp.models.errors import ModelUnavailable, ProgressCallback
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
    # The context limit the memory left after the weights allows (None: no limit from memory).
    context_limit_tokens: int | None = None
    # Bytes of parameters loaded, and what loading the whole multimodal checkpoint would have taken.
    loaded_bytes: int = 0
    checkpoint_bytes: int = 0


def pick_device(setting: str) -> str:
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(setting: str, device: str) -> Any:
    """The preferred dtype, before any memory check (`plan_memory` may fall back to bf16 on a CPU)."""
    import torch

    return getattr(torch, presets.dtypes_to_try(setting, device)[0])


@dataclass(frozen=True)
class MemoryPlan:
    dtype: str
    context_limit_tokens: int | None
    note: str


def plan_memory(name: str, target_config: Any, drafter_config: Any | None, device: str, dtype_setting: str,
                kv_cache_budget_mb: int, hardware: presets.Hardware | None = None) -> MemoryPlan:
    """Choose the dtype (and the context limit) the pair fits in on `device`; raise if none fits.

    The estimate is weights + KV of one request at the context limit + the prompt-cache budget +
    a fixed allowance (models/sizing.py); it is checked against the GPUs' memory, or the RAM
    available on a CPU. `auto` on a CPU prefers fp32 and falls back to bf16.
    """
    from gemma_lsp.models import sizing

    hardware = hardware or presets.detect_hardware()
    candidates = presets.dtypes_to_try(dtype_setting, device)
    available_gib = hardware.available_gib(device)
    if available_gib <= 0:  # no figure (psutil failed, or CUDA asked for but not found): do not guess
        return MemoryPlan(candidates[0], None, "memory not checked (no figure for this device)")
    budget = kv_cache_budget_mb << 20
    try:
        needs = [sizing.estimate(target_config, drafter_config, dtype, budget) for dtype in candidates]
    except Exception as error:  # a config the estimate does not understand: loading will tell
        log.warning("could not estimate the memory %s needs: %s: %s", name, type(error).__name__, error)
        return MemoryPlan(candidates[0], None, f"memory not checked ({type(error).__name__})")
    for need in needs:
        if need.fits(available_gib * 2**30):
            context = need.max_context_that_fits(available_gib * 2**30)
            note = f"{name} needs {need.describe()}; {hardware.describe(device)}"
            if context < need.default_context:
                note += f": context limited to {context} tokens"
            if need.dtype != candidates[0]:
                note = f"{candidates[0]} does not fit, loading {need.dtype} (slower on a CPU): {note}"
            return MemoryPlan(need.dtype, context, note)
    tried = "; ".join(need.describe() for need in needs)
    raise ModelUnavailable(
        f"Not enough memory for {name} on {device}: it needs {tried}, and {hardware.describe(device)}.",
        fix=presets.what_fits(hardware, device, kv_cache_budget_mb),
    )


def _local_folder(repo_or_path: str, spec: ModelSpec, allow_download: bool,
                  progress: ProgressCallback | None) -> Path:
    """A folder holding the checkpoint: a local path, the HF cache, or (if allowed) a download."""
    if spec.is_local or Path(repo_or_path).is_dir():  # a preset may pair with a local drafter folder
        path = Path(repo_or_path)
        if not path.is_dir():
            raise ModelUnavailable(
                f"Model folder not found: {path}",
                fix=f"Set {setting_name('model')} to an existing folder holding config.json and the weights, "
                "or to a preset (e2b, e4b, 26b, 31b).",
            )
        if not (path / "config.json").is_file():
            raise ModelUnavailable(
                f"{path} is not a model folder (no config.json)",
                fix=f"Point {setting_name('model')} at the folder that contains config.json and *.safetensors.",
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
            f"The weights of {repo_or_path} are not in the Hugging Face cache ({hub_cache_folder()}) "
            "and downloading is off.",
            fix=f"Run `{presets.download_command(spec)}` (accept the Gemma license on the hub and "
            f"`hf auth login` first), or set {setting_name('model')} to a local folder.",
        )
    if progress:
        progress(f"downloading {repo_or_path}", None)
    try:
        return Path(snapshot_download(repo_or_path))
    except Exception as error:
        raise ModelUnavailable(
            f"Could not download {repo_or_path}: {error}",
            fix=f"Run `{presets.download_command(spec)}` on a machine with access to the hub "
            f"(accept the Gemma license and `hf auth login` first), or set {setting_name('model')} to a "
            "local folder.",
        ) from error


def hub_cache_folder() -> str:
    """The Hugging Face cache folder downloads go to and are looked up in, as huggingface_hub resolves it
    (HF_HUB_CACHE, else HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub)."""
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def load(spec: ModelSpec, device: str = "auto", dtype: str = "auto", drafter: bool = True,
         allow_download: bool = True, progress: ProgressCallback | None = None,
         kv_cache_budget_mb: int = DEFAULT_KV_CACHE_BUDGET_MB, hardware: presets.Hardware | None = None) -> LoadedModel:
    """Load tokenizer, target and (optionally) drafter. Raises ModelUnavailable with a fix."""

    device = pick_device(device)
    if spec.tiny:
        torch_dtype = pick_dtype(dtype, device)
        if progress:
            progress("building the tiny random Gemma 4 pair", 30)
        pair = tiny.build()
        target = pair.target.to(device=device, dtype=torch_dtype)
        draft = pair.drafter.to(device=device, dtype=torch_dtype) if drafter else None
        return LoadedModel(target, draft, pair.tokenizer, device, str(torch_dtype).removeprefix("torch."), spec)

    if spec.preset:  # check the memory before anything is downloaded
        from gemma_lsp.models import shapes

        plan = plan_memory(spec.name, shapes.target_config(spec.preset),
                           shapes.drafter_config(spec.preset) if drafter else None,
                           device, dtype, kv_cache_budget_mb, hardware)
    target_dir = _local_folder(spec.target, spec, allow_download, progress)
    drafter_dir = None
    if drafter and spec.drafter:
        drafter_dir = _local_folder(spec.drafter, spec, allow_download, progress)
    if not spec.preset:
        target_cfg, drafter_cfg = _read_configs(target_dir, drafter_dir)
        plan = plan_memory(spec.name, target_cfg, drafter_cfg, device, dtype, kv_cache_budget_mb, hardware)
    log.info("memory: %s", plan.note)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = getattr(torch, plan.dtype)
    device_map: Any = "auto" if device == "cuda" else device
    try:
        if progress:
            progress(f"loading tokenizer from {target_dir.name}", 5)
        tokenizer = AutoTokenizer.from_pretrained(target_dir)
        if progress:
            progress(f"loading {spec.name} ({plan.dtype} on {device})", 10)
        target, checkpoint_params = _load_text_model(target_dir, torch_dtype, device_map)
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
    element = torch.tensor([], dtype=torch_dtype).element_size()
    loaded = sum(p.numel() for p in target.parameters()) * element
    if checkpoint_params * element > loaded:
        log.info("loaded the text model only: %.2f MiB of the checkpoint's %.2f MiB of weights in %s "
                 "(the vision/audio towers stay on disk, %.2f MiB saved)", loaded / 2**20,
                 checkpoint_params * element / 2**20, plan.dtype, (checkpoint_params * element - loaded) / 2**20)
    return LoadedModel(target, draft, tokenizer, device, plan.dtype, spec, plan.context_limit_tokens,
                       loaded_bytes=loaded, checkpoint_bytes=checkpoint_params * element)


def _read_configs(target_dir: Path, drafter_dir: Path | None) -> tuple[Any, Any | None]:
    from transformers import AutoConfig

    try:
        target = AutoConfig.from_pretrained(target_dir)
        drafter = AutoConfig.from_pretrained(drafter_dir) if drafter_dir is not None else None
    except Exception as error:
        raise ModelUnavailable(
            f"Could not read the model configuration in {target_dir}: {type(error).__name__}: {error}",
            fix="Check that the folder holds a complete Gemma 4 checkpoint (config.json, tokenizer, "
            "all *.safetensors shards); re-download it if it is partial.",
        ) from error
    return target, drafter


# A multimodal -it checkpoint stores the text model under `model.language_model.`; the text-only class
# names the same tensors `model.`. The lm_head is tied to the embeddings in both.
_TEXT_KEYS = {r"^model\.language_model\.": "model."}


def _load_text_model(folder: Path, dtype: Any, device_map: Any) -> tuple[Any, int]:
    """Load what text generation needs: the text model alone, even from a multimodal checkpoint.

    A released -it checkpoint is a `Gemma4ForConditionalGeneration` (vision tower; audio tower on
    E2B/E4B). `AutoModelForCausalLM` would build and load the towers too, which text generation never
    runs. Building `Gemma4ForCausalLM` from the checkpoint's text config and renaming the keys loads the
    language model only; the towers' tensors are never read from disk (safetensors is lazily mapped).
    Returns the model and the parameter count of the whole checkpoint (for the saving it reports).
    """
    from transformers import AutoConfig, AutoModelForCausalLM, Gemma4ForCausalLM

    config = AutoConfig.from_pretrained(folder)
    if getattr(config, "model_type", "") != "gemma4":
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, device_map=device_map)
        return model, sum(p.numel() for p in model.parameters())
    # Its load report would list every tower tensor as "unexpected": that is the point, not a problem.
    report = logging.getLogger("transformers.modeling_utils")
    level = report.level
    report.setLevel(logging.ERROR)
    try:
        loaded: Any = Gemma4ForCausalLM.from_pretrained(
            folder, config=config.get_text_config(), key_mapping=_TEXT_KEYS, dtype=dtype, device_map=device_map,
            output_loading_info=True,
        )
    finally:
        report.setLevel(level)
    model, info = loaded
    missing = sorted(info.get("missing_keys") or [])
    if missing:  # random weights where the checkpoint had none: refuse rather than talk nonsense
        raise ValueError(f"the checkpoint lacks text-model weights: {', '.join(missing[:5])}")
    model.generation_config = _generation_config(folder, model.generation_config)
    return model, _checkpoint_parameters(folder, model)


def _generation_config(folder: Path, default: Any) -> Any:
    from transformers import GenerationConfig

    try:
        return GenerationConfig.from_pretrained(folder)
    except OSError:  # the folder has no generation_config.json
        return default


def _checkpoint_parameters(folder: Path, model: Any) -> int:
    """Parameters stored in the checkpoint's safetensors files (read from their headers only)."""
    from safetensors import safe_open

    total = 0
    for file in sorted(folder.glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            for key in handle.keys():
                shape = handle.get_slice(key).get_shape()
                count = 1
                for dim in shape:
                    count *= dim
                total += count
    return total or sum(p.numel() for p in model.parameters())


def _first_device(model: Any) -> Any:
    return next(model.parameters()).device
