"""Config-only diffusers folders of each model family (no weights): enough for everything the
studio reads before it loads a model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_VAE = {"_class_name": "AutoencoderKL", "block_out_channels": [128, 256, 512, 512]}
_SD1_UNET = {
    "_class_name": "UNet2DConditionModel",
    "in_channels": 4,
    "sample_size": 64,
    "cross_attention_dim": 768,
}

FAMILIES: dict[str, dict[str, Any]] = {
    "sd1": {"pipeline": "StableDiffusionPipeline", "unet": _SD1_UNET},
    "sd2": {
        "pipeline": "StableDiffusionPipeline",
        "unet": {**_SD1_UNET, "sample_size": 64, "cross_attention_dim": 1024},
    },
    "sd2-v": {
        "pipeline": "StableDiffusionPipeline",
        "unet": {**_SD1_UNET, "sample_size": 96, "cross_attention_dim": 1024},
        "scheduler": {"prediction_type": "v_prediction"},
    },
    "sdxl": {
        "pipeline": "StableDiffusionXLPipeline",
        "unet": {
            **_SD1_UNET,
            "sample_size": 128,
            "cross_attention_dim": 2048,
            "addition_embed_type": "text_time",
        },
    },
    "sdxl-refiner": {
        "pipeline": "StableDiffusionXLImg2ImgPipeline",
        "index": {"requires_aesthetics_score": True},
        "unet": {
            **_SD1_UNET,
            "sample_size": 128,
            "cross_attention_dim": 1280,
            "addition_embed_type": "text_time",
        },
    },
    "inpaint": {
        "pipeline": "StableDiffusionInpaintPipeline",
        "unet": {**_SD1_UNET, "in_channels": 9},
    },
    "pix2pix": {
        "pipeline": "StableDiffusionInstructPix2PixPipeline",
        "unet": {**_SD1_UNET, "in_channels": 8},
    },
    "upscale-x4": {  # as stabilityai/stable-diffusion-x4-upscaler: a 3-block VAE (x4)
        "pipeline": "StableDiffusionUpscalePipeline",
        "unet": {**_SD1_UNET, "in_channels": 7, "sample_size": 128},
        "vae": {"_class_name": "AutoencoderKL", "block_out_channels": [128, 256, 512]},
    },
    "sd1-lcm": {
        "pipeline": "LatentConsistencyModelPipeline",
        "unet": {**_SD1_UNET, "time_cond_proj_dim": 256},
    },
}


def model_folder(parent: Path, family: str, name: str | None = None) -> Path:
    """A folder with ``model_index.json`` and the UNet, VAE and scheduler configs of
    ``family`` (a key of ``FAMILIES``), named ``name`` (default: the family)."""
    case = FAMILIES[family]
    folder = parent / (name or family)
    for sub in ("unet", "vae", "scheduler"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    index = {"_class_name": case["pipeline"], **case.get("index", {})}
    (folder / "model_index.json").write_text(json.dumps(index))
    (folder / "unet" / "config.json").write_text(json.dumps(case["unet"]))
    (folder / "vae" / "config.json").write_text(json.dumps(case.get("vae", _VAE)))
    scheduler = {"_class_name": "DDIMScheduler", **case.get("scheduler", {})}
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(scheduler))
    return folder
