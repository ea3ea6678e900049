"""A tiny random-weight ``AutoencoderTiny`` (taesd's layout) saved to a folder, for the live
preview's "user points at a taesd folder" path (``studio.pipeline.preview``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["build_tiny_taesd"]


def build_tiny_taesd(folder: Path) -> Path:
    """Save a 4-latent-channel AutoencoderTiny that decodes at 8x into ``folder``; return it."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    model = AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
    )
    model.save_pretrained(folder)
    return folder
