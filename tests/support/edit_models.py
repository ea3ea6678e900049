"""Tiny random-weight inpainting (9-channel) and InstructPix2Pix (8-channel) model folders.

Each is ``builtin:tiny`` with its UNet's first convolution widened to the family's input
channels: the same VAE, text encoder, tokenizer and scheduler (``studio.pipeline.builtin``),
saved with ``save_pretrained`` under the pipeline class a real folder of the family names,
so the studio reads the family from the folder as it does for a downloaded model.
"""

from __future__ import annotations

from pathlib import Path

PIPELINES = {
    9: "StableDiffusionInpaintPipeline",
    8: "StableDiffusionInstructPix2PixPipeline",
}


def edit_model_folders(parent: Path) -> dict[int, Path]:
    """Write the tiny inpainting (9) and InstructPix2Pix (8) models into folders of
    ``parent``; returns input channels -> folder."""
    import diffusers
    import torch
    from diffusers import UNet2DConditionModel

    from studio.pipeline.builtin import BUILTIN_MODELS

    tiny = BUILTIN_MODELS["tiny"].build()  # its VAE, text encoder, tokenizer and scheduler
    folders = {}
    for in_channels, name in PIPELINES.items():
        torch.manual_seed(in_channels)  # its own weights, fixed: the same folder every run
        unet = UNet2DConditionModel(**{**tiny.unet.config, "in_channels": in_channels})
        pipe = getattr(diffusers, name)(
            vae=tiny.vae,
            text_encoder=tiny.text_encoder,
            tokenizer=tiny.tokenizer,
            unet=unet,
            scheduler=tiny.scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        folders[in_channels] = parent / name.removesuffix("Pipeline").lower()
        pipe.save_pretrained(folders[in_channels], safe_serialization=True)
    return folders
