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
TEXT_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj"]


def make_tiny_lora(
    manager, path: Path, *, seed: int = 0, scale: float = 0.5, text_encoder: bool = False
) -> Path:
    """Write a LoRA for builtin:tiny's UNet to ``path`` (a ``.safetensors`` file); returns it.

    ``scale``: the standard deviation of the random LoRA weights (larger: a stronger change);
    ``text_encoder``: layers for the text encoder's attention too.
    """
    import torch
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig, get_peft_model_state_dict

    pipe = manager.load("builtin:tiny").pipe
    generator = torch.Generator().manual_seed(seed)
    layers = {}
    parts = [("unet", pipe.unet, TARGETS)]
    if text_encoder:
        parts.append(("text_encoder", pipe.text_encoder, TEXT_TARGETS))
    for part, model, targets in parts:
        model = copy.deepcopy(model).to("cpu")  # the shared pipeline is never changed
        model.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=targets))
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_" in name:
                    param.copy_(torch.randn(param.shape, generator=generator) * scale)
        layers[f"{part}_lora_layers"] = get_peft_model_state_dict(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        str(path.parent), weight_name=path.name, safe_serialization=True, **layers
    )
    return path
