"""Fast mode (step reuse) on ``builtin:shapes``: what it costs in quality, what it saves.

The held-out scenes of ``shapes_quality.py`` (its scenes and its classifier scores: colour,
shape, background, position) are drawn by the studio's own denoise loop
(``studio.pipeline.denoise``), once plainly and once with ``reuse`` (the spec's ``fast``),
in batches that alternate between the two (A B A B ...), from the same seeded noise and
the same settings. Prints one JSON object: each mode's accuracy, UNet calls and seconds,
the accuracy change in points, and the speed ratio (plain seconds over fast seconds).

    python benchmarks/fast_mode.py                          # 20 DDIM steps, guidance 3
    python benchmarks/fast_mode.py --steps 10 --per-combo 4 # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from shapes_quality import held_out_scenes, score  # noqa: E402  (benchmarks/ on the path)


def main() -> None:
    import torch

    from studio.events import CancelToken
    from studio.pipeline.builtin import recommended_guidance, recommended_guidance_stop
    from studio.pipeline.common import Clock
    from studio.pipeline.conditioning import TextStates
    from studio.pipeline.denoise import denoise
    from studio.pipeline.latents import decode, latent_shape, seeded_noise
    from studio.pipeline.models import LoadOptions, ModelManager
    from studio.pipeline.schedulers import make_scheduler
    from studio.pipeline.text import encode_prompts, with_negative
    from training.shapes.dataset import caption

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:shapes")
    parser.add_argument("--per-combo", type=int, default=6, help="images per held-out triple")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=recommended_guidance("builtin:shapes"))
    parser.add_argument(
        "--guidance-stop", type=float, default=recommended_guidance_stop("builtin:shapes")
    )
    parser.add_argument("--scheduler", default="ddim")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    loaded = ModelManager().load(args.model, LoadOptions(device="cpu"))
    pipe, device = loaded.pipe, loaded.device
    scheduler = make_scheduler(pipe, args.scheduler)
    scenes = held_out_scenes(args.per_combo, args.seed)
    prompts = [caption(s, keep=("size", "background", "position")) for s in scenes]
    texts = encode_prompts(pipe, sorted({*prompts, ""}), device)
    shape = latent_shape(pipe, 128, 128)
    modes = {"plain": False, "fast": True}
    images: dict[str, list[np.ndarray]] = {m: [] for m in modes}
    seconds = dict.fromkeys(modes, 0.0)
    calls = dict.fromkeys(modes, 0)
    for begin in range(0, len(scenes), args.batch):
        chunk = prompts[begin : begin + args.batch]
        seeds = [args.seed + begin + i for i in range(len(chunk))]
        x = seeded_noise(shape, seeds, device, loaded.dtype)
        cond = TextStates.cat([texts[p] for p in chunk])
        uncond = TextStates.cat([texts[""]] * len(chunk))
        text = with_negative(cond, uncond if args.guidance > 1 else None)
        order = list(modes) if (begin // args.batch) % 2 == 0 else list(reversed(modes))
        for mode in order:  # alternate which goes first, so load drifts hit both alike
            began = time.perf_counter()
            done = denoise(
                pipe.unet,
                scheduler,
                args.steps,
                x,
                text,
                args.guidance,
                cancel=CancelToken(),
                clock=Clock(),
                guidance_stop=args.guidance_stop,
                reuse=modes[mode],
            )
            images[mode].extend(decode(pipe, done.latents))
            seconds[mode] += time.perf_counter() - began
            calls[mode] += done.unet_calls
    scores = {m: score(images[m], scenes) for m in modes}
    report = {
        "benchmark": "fast_mode",
        "model": args.model,
        "images": len(scenes),
        "settings": {
            "steps": args.steps,
            "guidance": args.guidance,
            "guidance_stop": args.guidance_stop,
            "scheduler": args.scheduler,
        },
        "load": os.getloadavg()[0],
        "torch_threads": torch.get_num_threads(),
        "accuracy": scores,
        "change_points": {
            k: round(100 * (scores["fast"][k] - scores["plain"][k]), 1) for k in scores["plain"]
        },
        "unet_calls_per_batch": {m: calls[m] / -(-len(scenes) // args.batch) for m in modes},
        "seconds": {m: round(v, 2) for m, v in seconds.items()},
        "speed_ratio": round(seconds["plain"] / seconds["fast"], 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
