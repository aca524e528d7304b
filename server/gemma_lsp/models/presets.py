"""Model presets, hardware-based choice, and where a model's files come from.

A preset names a real Gemma 4 instruction-tuned checkpoint and its `-assistant` drafter on the Hugging
Face hub. A model may also be a local folder (or a pair: target and drafter folders). Files are looked
up in the standard Hugging Face cache (`HF_HOME`, `HF_HUB_CACHE` are honoured by huggingface_hub).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from gemma_lsp.client_terms import setting_name
from gemma_lsp.config import DEFAULT_KV_CACHE_BUDGET_MB

log = logging.getLogger(__name__)

# preset -> (target repo, drafter repo). Their memory needs are computed from the released configs
# (models/shapes.py, models/sizing.py).
PRESETS: dict[str, tuple[str, str]] = {
    "31b": ("google/gemma-4-31B-it", "google/gemma-4-31B-it-assistant"),
    "26b": ("google/gemma-4-26B-A4B-it", "google/gemma-4-26B-A4B-it-assistant"),
    "e4b": ("google/gemma-4-E4B-it", "google/gemma-4-E4B-it-assistant"),
    "e2b": ("google/gemma-4-E2B-it", "google/gemma-4-E2B-it-assistant"),
}
_LARGEST_FIRST = ("31b", "26b", "e4b", "e2b")


@dataclass(frozen=True)
class ModelSpec:
    """What to load: `target`/`drafter` are hub repo ids (preset) or local folders."""

    name: str  # what the user asked for: a preset name or a path
    target: str
    drafter: str | None
    preset: str | None = None
    tiny: bool = False

    @property
    def is_local(self) -> bool:
        return self.preset is None and not self.tiny


@dataclass(frozen=True)
class Hardware:
    device: str  # "cuda" or "cpu"
    gpu_name: str = ""
    gpu_memory_gib: float = 0.0
    gpu_count: int = 0
    ram_available_gib: float = 0.0

    def available_gib(self, device: str) -> float:
        """Memory a model on `device` can use: all GPUs' memory (weights spread over them), else free RAM."""
        return self.gpu_memory_gib if device.startswith("cuda") else self.ram_available_gib

    def describe(self, device: str) -> str:
        if device.startswith("cuda"):
            return f"{self.gpu_count}x {self.gpu_name} with {self.gpu_memory_gib:.1f} GiB"
        return f"this machine, with {self.ram_available_gib:.1f} GiB of RAM available"


def detect_hardware() -> Hardware:
    ram = 0.0
    try:
        import psutil

        ram = psutil.virtual_memory().available / 2**30
    except Exception as error:  # without the figure the memory check is skipped, not the server
        log.warning("could not read the available RAM: %s", error)
    try:
        import torch

        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            props = [torch.cuda.get_device_properties(i) for i in range(count)]
            total = sum(p.total_memory for p in props) / 2**30
            return Hardware("cuda", props[0].name, total, count, ram)
    except Exception as error:  # a broken CUDA install must not stop the server
        log.warning("could not query CUDA: %s", error)
    return Hardware("cpu", ram_available_gib=ram)


def dtypes_to_try(setting: str, device: str) -> tuple[str, ...]:
    """The dtypes `setting` allows on `device`, preferred first.

    `auto` is bf16 on GPUs, and fp32 on a CPU (bf16 matmuls are slower on most CPUs: see the README)
    with bf16 as the fallback when fp32 does not fit.
    """
    if setting != "auto":
        return (setting,)
    return ("bfloat16",) if device.startswith("cuda") else ("float32", "bfloat16")


def choose_preset(hardware: Hardware, kv_cache_budget_mb: int = DEFAULT_KV_CACHE_BUDGET_MB) -> tuple[str, str]:
    """Pick the preset for `auto`: on a GPU the largest whose bf16 need fits its memory, on a CPU E2B.

    Returns (preset, reason) so the choice can be logged. When nothing fits this still names the
    smallest preset: the loader's memory check then says what would fit (one message, at load).
    """
    from gemma_lsp.models import sizing

    budget = kv_cache_budget_mb << 20
    if hardware.device != "cuda":
        return "e2b", "no CUDA GPU found: E2B is the preset that runs at a usable speed on a CPU"
    available = hardware.gpu_memory_gib * 2**30
    for preset in _LARGEST_FIRST:
        need = sizing.preset_need(preset, "bfloat16", kv_cache_budget=budget)
        if need.fits(available):
            return preset, f"{hardware.describe('cuda')}: {preset} needs {need.describe()}"
    return "e2b", f"{hardware.describe('cuda')}: no preset fits; trying the smallest"


def what_fits(hardware: Hardware, device: str, kv_cache_budget_mb: int = DEFAULT_KV_CACHE_BUDGET_MB) -> str:
    """The fix for a pair that does not fit: the largest preset and dtype that would, or what to do if none."""
    from gemma_lsp.models import sizing

    available = hardware.available_gib(device) * 2**30
    budget = kv_cache_budget_mb << 20
    for preset in _LARGEST_FIRST:
        for dtype in dtypes_to_try("auto", device)[::-1]:  # the smaller dtype first: the larger model wins
            need = sizing.preset_need(preset, dtype, kv_cache_budget=budget)
            if need.fits(available):
                return (f"{preset} in {dtype} fits here: set {setting_name('model')} to {preset} and "
                        f"{setting_name('dtype')} to {dtype} "
                        f"(it needs {need.describe()}).")
    smallest = sizing.preset_need("e2b", "bfloat16", kv_cache_budget=budget)
    return (f"No preset fits here: the smallest, e2b in bfloat16, needs {smallest.describe()}. Free memory, "
            f"use a machine with more, or run the model on a server ({setting_name('engine')} remote).")


def resolve(model: str, drafter_model: str | None = None, hardware: Hardware | None = None,
            kv_cache_budget_mb: int = DEFAULT_KV_CACHE_BUDGET_MB, device: str = "auto") -> ModelSpec:
    """Turn the `model` setting into a ModelSpec (no files are touched).

    `device` is the device setting: `auto` with `device: cpu` chooses for the CPU even beside a GPU.
    """
    key = model.strip().lower()
    if key == "tiny":
        return ModelSpec(name="tiny", target="tiny", drafter="tiny", tiny=True)
    if key == "auto":
        hardware = hardware or detect_hardware()
        if device == "cpu":
            hardware = Hardware("cpu", ram_available_gib=hardware.ram_available_gib)
        preset, reason = choose_preset(hardware, kv_cache_budget_mb)
        log.info("model auto: chose %s (%s)", preset, reason)
        key = preset
    if key in PRESETS:
        target, drafter = PRESETS[key]
        return ModelSpec(name=key, target=target, drafter=drafter_model or drafter, preset=key)
    path = Path(os.path.expanduser(model))
    return ModelSpec(name=model, target=str(path), drafter=drafter_model and str(Path(drafter_model).expanduser()))


def download_command(spec: ModelSpec) -> str:
    repos = " ".join(r for r in (spec.target, spec.drafter) if r)
    return f"hf download {repos}"
