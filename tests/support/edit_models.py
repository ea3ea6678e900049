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


def edit_model_folder(parent: Path, in_channels: int) -> Path:
    """Write a tiny model whose UNet takes ``in_channels`` (9 or 8) into a folder of
    ``parent``, and return the folder."""
    import diffusers
    import torch
    from diffusers import UNet2DConditionModel

    from studio.pipeline.builtin import BUILTIN_MODELS

    tiny = BUILTIN_MODELS["tiny"].build()
    torch.manual_seed(in_channels)  # its own weights, fixed: the same folder every run
    unet = UNet2DConditionModel(**{**tiny.unet.config, "in_channels": in_channels})
    cls = getattr(diffusers, PIPELINES[in_channels])
    pipe = cls(
        vae=tiny.vae,
        text_encoder=tiny.text_encoder,
        tokenizer=tiny.tokenizer,
        unet=unet,
        scheduler=tiny.scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    folder = parent / PIPELINES[in_channels].removesuffix("Pipeline").lower()
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder
