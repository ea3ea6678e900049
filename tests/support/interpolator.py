"""Weights for the learned interpolator (``studio.media.rife``) made in the test: random ones
of the published layout, and hand-set ones whose output is known. No real RIFE weights."""

from __future__ import annotations

from pathlib import Path

import torch

from studio.media.rife import IFNet, IFNetLayout

# RIFE v4.22's sizes: four blocks, a wider encoder with fewer features (v4.25's is the default).
V4_22 = IFNetLayout(widths=(256, 192, 96, 48), hidden=32, features=8)


def zero_state_dict() -> dict[str, torch.Tensor]:
    """All-zero weights: no flow and a mask logit of 0, so every frame is an even mix."""
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in IFNet().state_dict().items()}
    return {k: torch.zeros(shape) for k, shape in shapes.items()}


def random_state_dict(seed: int = 0, layout: IFNetLayout | None = None) -> dict[str, torch.Tensor]:
    """A seeded random-weight IFNet's state dict, keys as a trained checkpoint has them."""
    torch.manual_seed(seed)
    return {k: v.clone() for k, v in IFNet(layout).state_dict().items()}


def save_random_interpolator(
    path: Path, seed: int = 0, *, prefix: str = "module.", layout: IFNetLayout | None = None
) -> Path:
    """Random weights saved as RIFE's training saves them (``module.`` before each key, from
    DistributedDataParallel) with ``torch.save``; ``.safetensors`` paths through safetensors."""
    state = {prefix + k: v for k, v in random_state_dict(seed, layout).items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return path


def shifting_state_dict(pixels: float) -> dict[str, torch.Tensor]:
    """Weights that make every frame the first one moved ``pixels`` to the left: all zero but
    the last block's output bias, which sets a constant flow of ``pixels`` to the right
    towards the first frame and a mask logit of +30 (all weight on the first frame).
    The last block works at full size, so its flow is in pixels as set."""
    state = zero_state_dict()
    bias = state["block4.lastconv.0.bias"]  # 4 conv channels per output channel (pixel shuffle)
    bias[0:4] = pixels  # output channel 0: flow x towards the first frame
    bias[16:20] = 30.0  # output channel 4: the mask logit
    return state
