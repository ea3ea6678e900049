"""Tiny LoRA files for builtin:tiny's UNet, made in code (no weights are downloaded).

``make_tiny_lora(path, seed)`` adds a PEFT LoRA (rank 4, on the attention projections) to a
copy of builtin:tiny's UNet with seeded random ``lora_A`` and ``lora_B`` (so the adapter
changes the output: PEFT's default starts ``lora_B`` at zero) and saves it as a
``.safetensors`` file with diffusers' ``save_lora_weights``, as a trained LoRA is saved.
"""

from __future__ import annotations

import copy
from pathlib import Path

TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def make_tiny_lora(
    manager, path: Path, *, seed: int = 0, scale: float = 0.5, targets: list[str] | None = None
) -> Path:
    """Write a LoRA for builtin:tiny's UNet to ``path`` (a ``.safetensors`` file); returns it.

    ``scale``: the standard deviation of the random LoRA weights (larger: a stronger change).
    """
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig, get_peft_model_state_dict

    unet = copy.deepcopy(manager.load("builtin:tiny").pipe.unet).to("cpu")
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=targets or TARGETS))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
    layers = get_peft_model_state_dict(unet)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        str(path.parent), unet_lora_layers=layers, weight_name=path.name, safe_serialization=True
    )
    return path
