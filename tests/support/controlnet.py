"""A tiny ControlNet for tests: made from builtin:tiny's UNet, with random weights where a fresh
ControlNet has zeros, so that it changes the frames."""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = ["make_tiny_controlnet"]


def make_tiny_controlnet(manager, folder: Path, seed: int = 0) -> Path:
    """Save a ControlNet for ``builtin:tiny`` into ``folder`` (a diffusers folder) and return it.

    ``ControlNetModel.from_unet`` copies the UNet's encoder and starts its output convolutions
    (and the control image embedding's last one) at zero, so it would add nothing; those get
    seeded random weights here. The shared builtin:tiny UNet is only read.
    """
    from diffusers import ControlNetModel

    unet = manager.load("builtin:tiny").pipe.unet
    net = ControlNetModel.from_unet(unet)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in net.named_parameters():
            zeroed = name.startswith(("controlnet_down_blocks", "controlnet_mid_block"))
            if zeroed or name.startswith("controlnet_cond_embedding.conv_out"):
                param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    net.save_pretrained(folder)
    return folder
