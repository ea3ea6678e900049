"""Train ``builtin:shapes``: ``python -m training.shapes.train [options]`` (``--help`` lists them).

Everything is built here from scratch and a seed, in Stable Diffusion's own format and
geometry: an AutoencoderKL (``training.shapes.vae``), a CLIPTextModel over the project's own
tokenizer (``training.shapes.text``) and a UNet2DConditionModel trained jointly with it
(``training.shapes.unet``). The result is a diffusers ``StableDiffusionPipeline`` folder in
safetensors (float16 weights) with a ``training.json`` record, loaded by the model manager
as ``builtin:shapes`` with no network. :func:`train` runs the stages:

1. VAE: train one on the ``vae_share`` of the time budget, or reuse an earlier run's.
2. Latent cache: encode ``cache`` training scenes once.
3. UNet + text encoder on the cached latents, from scratch or from an earlier run (a warm
   start); the colour words' embeddings are fixed first (``text.colour_code``).
4. Save the pipeline (EMA weights) and, unless told not to, a quick self-check with the
   shape classifier on held-out prompts.

    .venv/bin/python -m training.shapes.train                     # ~45 min on 2 CPU cores
    .venv/bin/python -m training.shapes.train --minutes 3 --out /tmp/shapes-smoke   # smoke run

Each option is a field of :class:`training.shapes.config.TrainConfig`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from training.shapes.config import IMAGE_SIZE, MAX_TOKENS, TrainConfig

__all__ = ["main", "parse_config", "self_check", "train"]


def _parser() -> argparse.ArgumentParser:
    """Flags made from :class:`TrainConfig`'s fields: ``mix_share`` is ``--mix-share``."""
    parser = argparse.ArgumentParser(
        prog="python -m training.shapes.train", description="train builtin:shapes"
    )
    for f in dataclasses.fields(TrainConfig):
        flag, text = "--" + f.name.replace("_", "-"), f.metadata["help"]
        if isinstance(f.default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, help=text)
        else:
            kind = Path if f.default is None else type(f.default)
            parser.add_argument(flag, type=kind, help=f"{text} (default: {f.default})")
    return parser


def parse_config(argv: Sequence[str] | None = None) -> TrainConfig:
    """The :class:`TrainConfig` of command-line ``argv``; exits with status 2 and the reason
    when a value is refused, as argparse does."""
    parser = _parser()
    given = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    try:
        return TrainConfig(**given)
    except ValueError as error:
        parser.error(str(error))


def train(config: TrainConfig, log: Callable[[str], None] = print) -> dict:
    """Run every stage of ``config`` and write the pipeline to ``config.out``.

    Returns the ``training.json`` record written there.
    """
    import torch
    from diffusers import StableDiffusionPipeline

    from studio.pipeline.vocab import build_tokenizer
    from training.shapes.text import colour_code, make_text_encoder
    from training.shapes.unet import (
        encode_cache,
        load_unet_stage,
        make_scheduler,
        make_unet,
        train_unet,
    )
    from training.shapes.vae import load_vae, make_vae, score_reconstructions, train_vae

    if config.threads:
        torch.set_num_threads(config.threads)
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    tokenizer = build_tokenizer(max_length=MAX_TOKENS)
    total = config.minutes * 60

    # 1. VAE: reuse or train.
    if config.vae_source is not None:
        vae, earlier = load_vae(config.vae_source)
        vae_stats = {**earlier, "from": str(config.vae_source)}
        log(f"vae: reused from {config.vae_source} ({earlier.get('steps')} steps there)")
    else:
        vae = make_vae()
        log(f"vae: {sum(p.numel() for p in vae.parameters()) / 1e6:.2f} M params")
        vae_stats = train_vae(vae, total * config.vae_share, rng, config.vae_batch, log)
    for p in vae.parameters():
        p.requires_grad_(False)
    vae_stats["reconstruction"] = score_reconstructions(vae, rng)
    log(f"vae: {vae_stats}")

    # 2. Latent cache.
    pairs, latents, scaling = encode_cache(vae, rng, config.cache, config.mix_share)

    # 3. UNet and text encoder.
    earlier_run = None
    code_seed = config.seed
    if config.unet_from is not None:
        unet, text_encoder, earlier_run = load_unet_stage(config.unet_from)
        log(f"unet: warm start from {config.unet_from} ({earlier_run['unet']['steps']} steps)")
        # The earlier UNet learned latents at the earlier scale; keep it.
        latents = latents * (earlier_run["scaling_factor"] / scaling)
        scaling = earlier_run["scaling_factor"]
        # colour_code is seeded: with the first run's seed it rewrites the rows that run
        # fixed (a warm-started run has its own seed, for new scenes and noise).
        code_seed = earlier_run.get("colour_code_seed", earlier_run["seed"])
    else:
        text_encoder = make_text_encoder(len(tokenizer))
        unet = make_unet()
    vae.register_to_config(scaling_factor=scaling)
    log(f"latent cache: {len(pairs)} scenes, scaling_factor {scaling:.4f}")
    fixed_tokens = colour_code(text_encoder, tokenizer, code_seed)
    log(f"unet: {sum(p.numel() for p in unet.parameters()) / 1e6:.2f} M params")
    unet_seconds = total - (time.perf_counter() - started) - 30  # leave time to save
    unet, text_encoder, unet_stats = train_unet(
        unet,
        text_encoder,
        tokenizer,
        pairs,
        latents,
        unet_seconds,
        rng,
        config.unet_batch,
        log,
        high_noise=config.high_noise,
        keep_p=config.keep_p,
        snr_gamma=config.snr_gamma,
        fixed_tokens=fixed_tokens,
        steps=config.unet_steps,
        peak=5e-4 if config.warm_start else 1e-3,
        uncond=config.uncond,
    )
    if earlier_run is not None:
        unet_stats["from"] = {"folder": str(config.unet_from), **earlier_run["unet"]}

    # 4. Save, then check.
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=make_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.to(torch.float16)  # half the size on disk; the manager loads it at any dtype
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(out, safe_serialization=True)
    for component in out.glob("*/config.json"):
        # A warm start's components were loaded from a folder, whose path they would record.
        fields = json.loads(component.read_text())
        if fields.pop("_name_or_path", None) is not None:
            component.write_text(json.dumps(fields, indent=2, sort_keys=True) + "\n")
    info = {
        "seed": config.seed,
        "colour_code_seed": code_seed,
        "args": config.record(),
        "minutes": round((time.perf_counter() - started) / 60, 2),
        "torch_threads": torch.get_num_threads(),
        "vae": vae_stats,
        "unet": unet_stats,
        "scaling_factor": scaling,
        "latent_cache": len(pairs),
        "torch": torch.__version__,
    }
    (out / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    log(f"saved {out} ({size / 1e6:.1f} MB)")
    if config.self_check:
        info["self_check"] = self_check(out, log)
        (out / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def self_check(folder: Path, log: Callable[[str], None] = print) -> dict[str, float]:
    """Draw held-out prompts at every position and size; read them back with the classifier.

    Returns the share right of each of colour, shape, background and position.
    """
    import torch
    from diffusers import StableDiffusionPipeline

    from studio.pipeline.builtin import recommended_guidance
    from training.shapes.classifier import classify
    from training.shapes.dataset import HELD_OUT, POSITIONS, SIZES, Scene, caption

    pipe = StableDiffusionPipeline.from_pretrained(folder, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    combos = sorted(HELD_OUT)
    scenes = [
        Scene(*combos[i % len(combos)], SIZES[i % 2], POSITIONS[(i // 2) % len(POSITIONS)])
        for i in range(2 * len(POSITIONS))
    ]
    images = pipe(
        [caption(s) for s in scenes],
        num_inference_steps=20,
        guidance_scale=recommended_guidance("builtin:shapes"),
        height=IMAGE_SIZE,
        width=IMAGE_SIZE,
        generator=[torch.Generator().manual_seed(i) for i in range(len(scenes))],
        output_type="np",
    ).images
    right = {"colour": 0, "shape": 0, "background": 0, "position": 0}
    for scene, image in zip(scenes, images, strict=True):
        reading = classify((image * 255).round().astype(np.uint8))
        for key in right:
            right[key] += getattr(reading, key) == getattr(scene, key)
    result = {k: round(v / len(scenes), 3) for k, v in right.items()}
    log(f"self-check on {len(scenes)} held-out prompts: {result}")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    """The command line: parse ``argv`` (default ``sys.argv``), then :func:`train`, logging
    each line with the minutes since the start."""
    config = parse_config(argv)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{(time.perf_counter() - started) / 60:5.1f} min] {message}", flush=True)

    train(config, log)


if __name__ == "__main__":
    main()
