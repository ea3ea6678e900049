"""A tiny random-weight SDXL diffusers folder, built in code: two text encoders (the second
with a projection: the pooled embedding), a UNet with SDXL's added time embedding, a VAE that
asks for float32 decoding, at 64 px so a render takes seconds on the CPU."""

from __future__ import annotations

import shutil
from pathlib import Path

SIZE = 64  # pixels a side: UNet sample size 8 x the VAE's factor 8
TIME_DIM = 8  # addition_time_embed_dim: six time ids of 8 values each
POOLED = 24  # the second encoder's projection: the pooled embedding's width
WIDTHS = (32, 16)  # hidden sizes of the two encoders; the UNet attends to both side by side


def build_tiny_sdxl(folder: Path) -> Path:
    """Write a tiny ``StableDiffusionXLPipeline`` into ``folder`` (save_pretrained); return it."""
    import torch
    from diffusers import (
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from studio.pipeline.builtin import tiny_vae
    from studio.pipeline.vocab import build_tokenizer

    tokenizer, tokenizer_2 = build_tokenizer(), build_tokenizer()

    def text_config(hidden: int, **extra) -> CLIPTextConfig:
        return CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            intermediate_size=2 * hidden,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=tokenizer.model_max_length,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            **extra,
        )

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=SIZE // 8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=sum(WIDTHS),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_DIM,
        projection_class_embeddings_input_dim=6 * TIME_DIM + POOLED,
        norm_num_groups=32,
    )
    torch.manual_seed(1)
    vae = tiny_vae(sample_size=SIZE, scaling_factor=0.13025, force_upcast=True)
    torch.manual_seed(2)
    text_encoder = CLIPTextModel(text_config(WIDTHS[0]))
    torch.manual_seed(3)
    text_encoder_2 = CLIPTextModelWithProjection(text_config(WIDTHS[1], projection_dim=POOLED))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
        add_watermarker=False,
    )
    pipe.save_pretrained(folder, safe_serialization=True)
    return folder


def turbo_copy(folder: Path, parent: Path) -> Path:
    """The same model under a Turbo name (``tiny-sdxl-turbo``): a few-step model by its name."""
    turbo = parent / "tiny-sdxl-turbo"
    if not turbo.exists():
        shutil.copytree(folder, turbo)
    return turbo
