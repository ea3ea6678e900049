"""A tiny random-weight x4 upscaler (``StableDiffusionUpscalePipeline``), built in code.

Used by the blend's and the animation's upscale-stage tests through the session fixture
``tiny_upscaler`` (tests/conftest.py): the UNet takes 7 channels (4 latent channels and the
noised low-resolution RGB image) and the noise level as class label; the VAE has three
blocks, so it decodes latents the size of a low-resolution frame at four times its size.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["build_tiny_upscaler"]


def build_tiny_upscaler(folder: Path) -> Path:
    """Save the tiny upscaler into ``folder`` (a diffusers folder) and return it."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )

    from studio.pipeline.builtin import tiny_text_encoder
    from studio.pipeline.vocab import build_tokenizer

    tokenizer = build_tokenizer()
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=16,
        in_channels=7,  # 4 latent channels + the noised low-resolution RGB image
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
        num_class_embeds=351,  # the noise level, 0..350
    )
    torch.manual_seed(1)
    vae = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=(32, 32, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
        scaling_factor=0.08333,
    )
    torch.manual_seed(2)
    text_encoder = tiny_text_encoder(tokenizer)
    pipe = StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        low_res_scheduler=DDPMScheduler(beta_schedule="scaled_linear"),
        scheduler=DDIMScheduler(beta_schedule="scaled_linear", clip_sample=False),
    )
    pipe.save_pretrained(folder)
    return folder
