"""Depth sources for 3D motion tests: a tiny random-weight DPT saved as a transformers folder,
and depth pictures and videos of known geometry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

__all__ = ["depth_video", "make_tiny_depth_anything", "make_tiny_dpt"]


def make_tiny_dpt(folder: Path, seed: int = 0) -> Path:
    """Save a tiny ``DPTForDepthEstimation`` (a 4-layer, 32-wide ViT on 32 px inputs) and its
    image processor into ``folder``; return it.

    A freshly initialised DPT predicts almost exactly 0 everywhere (its head ends in a ReLU
    after small weights), so every weight is redrawn from a seeded Gaussian: the map it
    predicts then varies with the picture, as a real model's does.
    """
    from transformers import DPTConfig, DPTForDepthEstimation

    config = DPTConfig(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=37,
        image_size=32,
        patch_size=8,
        backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[16, 16, 32, 32],
        fusion_hidden_size=16,
        reassemble_factors=[4, 2, 1, 0.5],
        is_hybrid=False,
    )
    return _save(DPTForDepthEstimation(config), folder, seed, {"height": 32, "width": 32})


def make_tiny_depth_anything(folder: Path, seed: int = 0) -> Path:
    """Save a tiny ``DepthAnythingForDepthEstimation`` (a 4-layer, 32-wide DINOv2 on 28 px
    inputs) and its image processor into ``folder``; seeded random weights as above."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=37,
        image_size=28,
        patch_size=14,
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=32,
        patch_size=14,
        neck_hidden_sizes=[16, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        reassemble_factors=[4, 2, 1, 0.5],
    )
    size = {"height": 28, "width": 28}
    return _save(DepthAnythingForDepthEstimation(config), folder, seed, size)


def _save(model, folder: Path, seed: int, size: dict[str, int]) -> Path:
    """Redraw every weight of ``model`` from a seeded Gaussian; save it and a PIL image
    processor of ``size`` into ``folder``."""
    from transformers import DPTImageProcessorPil

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.eval().parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    model.save_pretrained(folder)
    DPTImageProcessorPil(size=size).save_pretrained(folder)
    return folder


def depth_video(path: Path, levels: list[int], size: tuple[int, int] = (32, 32)) -> Path:
    """A lossless grey video at 8 fps, frame i all of grey ``levels[i]`` (a plane at one depth
    per frame), so a depth frame read for the wrong output frame shows."""
    import imageio_ffmpeg

    writer = imageio_ffmpeg.write_frames(
        str(path),
        size,
        fps=8,
        macro_block_size=1,
        output_params=["-crf", "0", "-pix_fmt", "yuv444p"],
        pix_fmt_out="yuv444p",
        ffmpeg_log_level="error",
    )
    writer.send(None)
    for level in levels:
        writer.send(np.full((size[1], size[0], 3), level, np.uint8))
    writer.close()
    return path
