"""Depth-estimation models for 3D motion: checking, loading through the manager, estimating.

A depth model is a transformers ``AutoModelForDepthEstimation`` with its image processor:
DPT (``model_type`` ``dpt``: DPT-Large, DPT-Hybrid, MiDaS 3) or Depth Anything
(``depth_anything``), from a local folder or a Hub id already in the local Hugging Face cache
(the studio never downloads one). Both predict relative inverse depth (larger = nearer, scale
and shift unknown), so ``estimate_nearness`` stretches each prediction to [0, 1] (1 = the
frame's nearest point); ``studio.animation.motion3d`` turns that into depth. Models that
predict metric depth (ZoeDepth, GLPN...) read the other way round and are refused by name.

A model is loaded once per (reference, device, dtype) through ``ModelManager.component`` and
shared: it is only read. ``check_depth_model_ref`` reads configs only, so a wrong folder is
refused before a run is recorded. The image processor runs on its PIL backend, so the same
frame gives the same input on every machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from studio.errors import ModelLoadError
from studio.pipeline.families import component_folder

if TYPE_CHECKING:
    import torch

    from studio.pipeline.models import ModelManager

__all__ = [
    "DEPTH_MODEL_TYPES",
    "DepthModel",
    "check_depth_model_ref",
    "estimate_nearness",
    "load_depth_model",
]

DEPTH_MODEL_TYPES = ("dpt", "depth_anything")


@dataclass(frozen=True)
class DepthModel:
    """A loaded depth model: read it, never change it."""

    ref: str
    model: Any  # a transformers ``...ForDepthEstimation`` in eval mode
    processor: Any  # its image processor (PIL backend)
    device: torch.device
    dtype: torch.dtype


def check_depth_model_ref(ref: str) -> None:
    """Refuse, before a run is recorded, a depth model the studio cannot run (configs only).

    Raises ``ModelLoadError`` naming ``ref`` and the reason: no folder, no ``config.json`` or
    ``preprocessor_config.json``, or a model type other than ``DEPTH_MODEL_TYPES``.
    """
    folder = component_folder(ref, "depth model")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(
            f"depth model {ref!r} is not a transformers model folder (no config.json in it)"
        )
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"depth model {ref!r}: config.json cannot be read: {exc}") from None
    kind = config.get("model_type") if isinstance(config, dict) else None
    if kind not in DEPTH_MODEL_TYPES:
        raise ModelLoadError(
            f"depth model {ref!r} is a {kind or 'model of unknown type'}; 3D motion reads "
            f"relative inverse depth from {' or '.join(DEPTH_MODEL_TYPES)} models "
            "(DPT, Depth Anything)"
        )
    if not (folder / "preprocessor_config.json").is_file():
        raise ModelLoadError(
            f"depth model {ref!r} has no preprocessor_config.json (its image processor)"
        )


def load_depth_model(
    manager: ModelManager, ref: str, device: torch.device, dtype: torch.dtype
) -> DepthModel:
    """Depth model ``ref`` on ``device`` in ``dtype``, loaded once per manager and shared.
    Raises ``ModelLoadError``."""
    key = ("depth", ref, str(device), str(dtype))
    return manager.component(key, lambda: _load(ref, device, dtype))


def _load(ref: str, device: torch.device, dtype: torch.dtype) -> DepthModel:
    import transformers
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    check_depth_model_ref(ref)
    folder = component_folder(ref, "depth model")
    transformers.utils.logging.disable_progress_bar()
    try:
        model = AutoModelForDepthEstimation.from_pretrained(
            folder, dtype=dtype, local_files_only=True
        )
        processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True, backend="pil")
    except Exception as exc:  # transformers raises many types for a missing or broken model
        raise ModelLoadError(f"could not load the depth model {ref} from {folder}: {exc}") from exc
    model = model.to(device).eval().requires_grad_(False)
    return DepthModel(ref, model, processor, device, dtype)


def estimate_nearness(depth: DepthModel, image: np.ndarray) -> np.ndarray:
    """The nearness of ``image`` (H, W, 3) uint8: float64 (H, W) in [0, 1], 1 = nearest.

    The model's relative inverse depth, resized to (H, W) (bilinear) and stretched so its
    smallest value is 0 and its largest 1; a flat prediction (no depth seen) is 0 everywhere.
    """
    import torch
    import torch.nn.functional as F

    height, width = image.shape[:2]
    inputs = depth.processor(images=image, return_tensors="pt")
    pixels = inputs["pixel_values"].to(device=depth.device, dtype=depth.dtype)
    with torch.no_grad():
        predicted = depth.model(pixel_values=pixels).predicted_depth  # (1, h, w)
        resized = F.interpolate(
            predicted[:, None].float(), size=(height, width), mode="bilinear", align_corners=False
        )
    values = resized[0, 0].cpu().numpy().astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if not np.isfinite(low) or not np.isfinite(high):
        raise ModelLoadError(f"depth model {depth.ref} predicted non-finite depth")
    if high - low <= 1e-12 * max(1.0, abs(high)):
        return np.zeros((height, width))
    return (values - low) / (high - low)
