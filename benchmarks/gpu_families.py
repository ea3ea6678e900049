"""Frames per second of real-size model families on a CUDA GPU, through the studio's own render.

A prepared script for a machine with a CUDA GPU (issue 25, item 6). No weights are
downloaded: it builds random-weight diffusers folders with the architecture of Stable
Diffusion 1.5 (UNet 860M, CLIP ViT-L text encoder) and of SDXL base (UNet 2.6B, CLIP ViT-L +
OpenCLIP bigG encoders), which time like the trained models, saves them in float16 and then,
for each family at its native size (512 and 1024 px):

- ``model_fps``: frames per second of the model alone: ``steps`` UNet calls (a guided batch
  of 2 rows; 1 row without guidance) and one VAE decode per frame, timed on their own after a
  warm-up (a render encodes each prompt once, not per frame, so text encoding is left out);
- ``render_fps``: frames per second of ``studio.render`` making a keyframed animation with the
  same settings (model load excluded: it is timed apart as ``load_seconds``);
- ``ratio``: render over model (1.0 means the studio adds nothing around the model).

Each family runs at ``--steps`` (default 25, guided) and at a Turbo-style 4 steps without
guidance. Prints one JSON object; record the figures in docs/benchmarks.md with the date
and the GPU.

    python benchmarks/gpu_families.py                       # on the GPU machine
    python benchmarks/gpu_families.py --tiny --device cpu   # a quick check of the script
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Architectures as published in the models' configs (block widths, depths, heads).
SD15_UNET: dict[str, Any] = {
    "sample_size": 64,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "layers_per_block": 2,
}
SDXL_UNET: dict[str, Any] = {
    "sample_size": 128,
    "block_out_channels": (320, 640, 1280),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "transformer_layers_per_block": (1, 2, 10),
    "attention_head_dim": (5, 10, 20),
    "cross_attention_dim": 2048,
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,
    "layers_per_block": 2,
}
CLIP_L = {"hidden_size": 768, "intermediate_size": 3072, "layers": 12, "heads": 12}
CLIP_BIG_G = {"hidden_size": 1280, "intermediate_size": 5120, "layers": 32, "heads": 20}
VAE = {"block_out_channels": (128, 256, 512, 512), "layers_per_block": 2}


def shrink(config: dict[str, Any]) -> dict[str, Any]:
    """A tiny version of an architecture, for ``--tiny`` (the script's own check on a CPU)."""
    small = dict(config)
    if "block_out_channels" in small:
        small["block_out_channels"] = tuple(32 for _ in small["block_out_channels"])
    if "layers_per_block" in small:
        small["layers_per_block"] = 1
    if "transformer_layers_per_block" in small:
        small["transformer_layers_per_block"] = tuple(1 for _ in small["down_block_types"])
    if "attention_head_dim" in small:
        heads = small["attention_head_dim"]
        small["attention_head_dim"] = tuple(4 for _ in heads) if isinstance(heads, tuple) else 4
    if "sample_size" in small:
        small["sample_size"] = 8
    if "hidden_size" in small:
        small.update(hidden_size=32, intermediate_size=37, layers=2, heads=4)
    return small


def text_encoder(shape: dict[str, Any], vocab: int, projection: bool) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        vocab_size=vocab,
        hidden_size=shape["hidden_size"],
        intermediate_size=shape["intermediate_size"],
        num_hidden_layers=shape["layers"],
        num_attention_heads=shape["heads"],
        projection_dim=shape["hidden_size"],
        max_position_embeddings=77,
        pad_token_id=1,
    )
    return (CLIPTextModelWithProjection if projection else CLIPTextModel)(config)


def build_folder(family: str, folder: Path, tiny: bool, device: str) -> Path:
    """Save a random-weight ``family`` (``sd15``/``sdxl``) diffusers folder in float16."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )

    from studio.pipeline.vocab import build_tokenizer

    fit = shrink if tiny else dict
    tokenizer = build_tokenizer()
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    with torch.device(device):  # random init on the GPU: seconds, not minutes
        torch.manual_seed(0)
        vae_shape = fit(VAE)
        vae = AutoencoderKL(
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=vae_shape["block_out_channels"],
            layers_per_block=vae_shape["layers_per_block"],
            latent_channels=4,
            norm_num_groups=32,
        )
        clip_l = fit(CLIP_L)
        if family == "sd15":
            unet_config = fit(SD15_UNET)
            unet_config["cross_attention_dim"] = clip_l["hidden_size"]
            unet = UNet2DConditionModel(**unet_config)
            pipe = StableDiffusionPipeline(
                unet=unet,
                vae=vae,
                text_encoder=text_encoder(clip_l, len(tokenizer), False),
                tokenizer=tokenizer,
                scheduler=scheduler,
                safety_checker=None,
                feature_extractor=None,
                requires_safety_checker=False,
            )
        else:
            big_g = fit(CLIP_BIG_G)
            unet_config = fit(SDXL_UNET)
            unet_config["cross_attention_dim"] = clip_l["hidden_size"] + big_g["hidden_size"]
            time_dim = 8 if tiny else unet_config["addition_time_embed_dim"]
            unet_config["addition_time_embed_dim"] = time_dim
            unet_config["projection_class_embeddings_input_dim"] = (
                6 * time_dim + big_g["hidden_size"]
            )
            unet = UNet2DConditionModel(**unet_config)
            pipe = StableDiffusionXLPipeline(
                unet=unet,
                vae=vae,
                text_encoder=text_encoder(clip_l, len(tokenizer), False),
                text_encoder_2=text_encoder(big_g, len(tokenizer), True),
                tokenizer=tokenizer,
                tokenizer_2=tokenizer,
                scheduler=scheduler,
            )
    pipe.to(torch.float16 if device != "cpu" else torch.float32)
    pipe.save_pretrained(folder)
    return folder


def model_fps(folder: Path, size: int, steps: int, guided: bool, device: str) -> float:
    """Frames per second of the model's own calls (text, UNet steps, VAE decode) for one frame."""
    import torch

    from studio.pipeline.conditioning import unet_extras
    from studio.pipeline.models import LoadOptions, ModelManager
    from studio.pipeline.text import encode_prompts, with_negative

    loaded = ModelManager(capacity=1).load(str(folder), LoadOptions(device=device))
    pipe = loaded.pipe
    factor = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    x = torch.randn(1, 4, size // factor, size // factor, device=device, dtype=loaded.dtype)
    extras = unet_extras(pipe, size, size)

    texts = encode_prompts(pipe, ["a red circle", ""], loaded.device)
    text = with_negative(texts["a red circle"], texts[""] if guided else None)

    def frame() -> None:
        rows = torch.cat([x, x]) if guided else x
        t = torch.tensor(500, device=device)
        with torch.no_grad():
            for _ in range(steps):
                kwargs = {}
                for extra in extras:
                    kwargs.update(extra(rows, t, text))
                pipe.unet(rows, t, encoder_hidden_states=text.states, **kwargs)
            pipe.vae.decode(x / pipe.vae.config.scaling_factor)

    frame()  # warm-up: kernels, allocator
    sync(device)
    began = time.perf_counter()
    repeats = 3
    for _ in range(repeats):
        frame()
    sync(device)
    return repeats / (time.perf_counter() - began)


def render_fps(
    folder: Path, size: int, steps: int, guided: bool, frames: int, device: str
) -> dict[str, float]:
    """Frames per second of a keyframed animation rendered by the studio (load apart)."""
    import studio
    from studio.spec import AnimationSpec

    spec = AnimationSpec.model_validate(
        {
            "prompts": {"schedule": f"0: a red circle\n{frames - 1}: a blue square"},
            "diffusion": {
                "model": str(folder),
                "steps": steps,
                "guidance": 7.5 if guided else 0.0,
                "guidance_stop": 0.0,
                "scheduler": "euler",
                "width": size,
                "height": size,
                "device": device,
            },
            "animation": {"fps": 12, "batch_size": 1},
            "output": {"format": "mp4"},
        }
    )
    with tempfile.TemporaryDirectory() as home:
        _, result = studio.render(spec, home=Path(home))
    load = result.timings.get("load", 0.0)
    return {"render_fps": frames / (result.seconds - load), "load_seconds": load}


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=["sd15", "sdxl"])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny models: check the script")
    args = parser.parse_args()

    import torch

    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "torch": torch.__version__,
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families:
            began = time.perf_counter()
            folder = build_folder(family, Path(tmp) / family, args.tiny, args.device)
            size = 128 if args.tiny else {"sd15": 512, "sdxl": 1024}[family]
            built = time.perf_counter() - began
            for steps, guided in ((args.steps, True), (4, False)):
                model = model_fps(folder, size, steps, guided, args.device)
                render = render_fps(folder, size, steps, guided, args.frames, args.device)
                report["runs"].append(
                    {
                        "family": family,
                        "size": size,
                        "steps": steps,
                        "guided": guided,
                        "model_fps": round(model, 3),
                        "render_fps": round(render["render_fps"], 3),
                        "ratio": round(render["render_fps"] / model, 3),
                        "load_seconds": round(render["load_seconds"], 1),
                        "build_seconds": round(built, 1),
                    }
                )
                print(json.dumps(report["runs"][-1]), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
