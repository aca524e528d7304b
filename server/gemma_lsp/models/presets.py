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

log = logging.getLogger(__name__)

# preset -> (target repo, drafter repo, approximate bf16 weight memory in GiB for the pair)
PRESETS: dict[str, tuple[str, str, float]] = {
    "31b": ("google/gemma-4-31B-it", "google/gemma-4-31B-it-assistant", 63.0),
    "26b": ("google/gemma-4-26B-A4B-it", "google/gemma-4-26B-A4B-it-assistant", 53.0),
    "e4b": ("google/gemma-4-E4B-it", "google/gemma-4-E4B-it-assistant", 16.0),
    "e2b": ("google/gemma-4-E2B-it", "google/gemma-4-E2B-it-assistant", 10.5),
}
# Memory to leave free beside the weights for the KV cache and activations.
_HEADROOM_GIB = 8.0


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


def detect_hardware() -> Hardware:
    try:
        import torch

        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            props = [torch.cuda.get_device_properties(i) for i in range(count)]
            total = sum(p.total_memory for p in props) / 2**30
            return Hardware("cuda", props[0].name, total, count)
    except Exception as error:  # a broken CUDA install must not stop the server
        log.warning("could not query CUDA: %s", error)
    return Hardware("cpu")


def choose_preset(hardware: Hardware) -> tuple[str, str]:
    """Pick the largest preset whose weights fit the GPU memory (with headroom); E2B on CPU.

    Returns (preset, reason) so the choice can be logged.
    """
    if hardware.device != "cuda":
        return "e2b", "no CUDA GPU found: E2B is the preset that runs at a usable speed on a CPU"
    for preset in ("31b", "26b", "e4b", "e2b"):
        need = PRESETS[preset][2] + _HEADROOM_GIB
        if hardware.gpu_memory_gib >= need:
            return preset, (
                f"{hardware.gpu_count}x {hardware.gpu_name} with {hardware.gpu_memory_gib:.0f} GiB: "
                f"{preset} needs about {need:.0f} GiB"
            )
    return "e2b", f"{hardware.gpu_name} has only {hardware.gpu_memory_gib:.0f} GiB: using the smallest preset"


def resolve(model: str, drafter_model: str | None = None, hardware: Hardware | None = None) -> ModelSpec:
    """Turn the `model` setting into a ModelSpec (no files are touched)."""
    key = model.strip().lower()
    if key == "tiny":
        return ModelSpec(name="tiny", target="tiny", drafter="tiny", tiny=True)
    if key == "auto":
        preset, reason = choose_preset(hardware or detect_hardware())
        log.info("model auto: chose %s (%s)", preset, reason)
        key = preset
    if key in PRESETS:
        target, drafter, _ = PRESETS[key]
        return ModelSpec(name=key, target=target, drafter=drafter_model or drafter, preset=key)
    path = Path(os.path.expanduser(model))
    return ModelSpec(name=model, target=str(path), drafter=drafter_model and str(Path(drafter_model).expanduser()))


def download_command(spec: ModelSpec) -> str:
    repos = " ".join(r for r in (spec.target, spec.drafter) if r)
    return f"hf download {repos}"
