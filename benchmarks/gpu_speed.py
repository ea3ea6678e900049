"""End-to-end frames per second over pure-model frames per second on a CUDA GPU (issue 27, 4d).

A prepared script for a machine with a CUDA GPU. Nothing is downloaded: it builds the
random-weight SD 1.5-sized and SDXL-sized diffusers folders of ``gpu_families.py`` (the
published architectures; random weights time like trained ones), loads each once through
the studio's model manager (``--dtype``, float16 by default) and, on those same loaded
components, for each schedule (25 guided steps; Turbo-style 4, 2 and 1 unguided steps) and
each batch size (1, 4, 8) times:

- ``unet_fps``: frames per second of the UNet alone: ``steps`` calls of the batch (2B rows
  when guided: one call), after a warm-up;
- ``model_fps``: the same plus one VAE decode of the batch (the model's own limit; the text
  encoder runs once per prompt in a render, so it is left out);
- ``render_fps``: frames per second of ``render_animation`` making a ``--frames``-frame
  keyframed animation with those settings and that batch size (after a warm-up render;
  model load and any torch.compile timed apart and left out), written to MP4;
- ``render_over_unet`` and ``render_over_model``: the ratios (1.0: the studio adds nothing).

It prints a line of JSON per run on stderr as it goes and one JSON object at the end, with
the issue's targets: at 512 px (SD 1.5) float16 batch 8, ``render_over_unet`` >= 0.90 at 25
steps and >= 0.80 at 4 steps. Record the figures in docs/benchmarks.md with the date and GPU.

    python benchmarks/gpu_speed.py                       # on the GPU machine (all runs)
    python benchmarks/gpu_speed.py --families sd15 --batches 8 --schedules 25 4
    python benchmarks/gpu_speed.py --smoke               # tiny models on the CPU: checks it
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpu_families import build_folder, sync  # noqa: E402  (benchmarks/ on the path)

SIZES = {"sd15": 512, "sdxl": 1024}
TARGETS = {"25 steps": 0.90, "4 steps": 0.80}  # render_over_unet, sd15 512 px batch 8


def pure_fps(
    loaded: Any, size: int, steps: int, guided: bool, batch: int, repeats: int
) -> dict[str, float]:
    """UNet-alone and UNet + VAE frames per second of one batch on ``loaded``'s components."""
    import torch

    from studio.pipeline.conditioning import TextStates, extra_kwargs, unet_extras
    from studio.pipeline.latents import latent_shape
    from studio.pipeline.text import encode_prompts, with_negative

    pipe, device, dtype = loaded.pipe, loaded.device, loaded.dtype
    x = torch.randn(batch, *latent_shape(pipe, size, size), device=device, dtype=dtype)
    texts = encode_prompts(pipe, ["a red circle", ""], device)
    cond = TextStates.cat([texts["a red circle"]] * batch)
    text = with_negative(cond, TextStates.cat([texts[""]] * batch) if guided else None)
    rows = torch.cat([x, x]) if guided else x
    extras = unet_extras(pipe, size, size)
    t = torch.tensor(500, device=device)

    def unet() -> None:
        with torch.no_grad():
            for _ in range(steps):
                kwargs = extra_kwargs(extras, rows, t, text)
                pipe.unet(rows, t, encoder_hidden_states=text.states, **kwargs)

    def vae() -> None:
        with torch.no_grad():
            pipe.vae.decode(x / pipe.vae.config.scaling_factor)

    seconds = {}
    for name, work in (("unet", unet), ("vae", vae)):
        work()  # warm-up: kernels, cuDNN's choices, the allocator
        sync(str(device))
        began = time.perf_counter()
        for _ in range(repeats):
            work()
        sync(str(device))
        seconds[name] = (time.perf_counter() - began) / repeats
    return {
        "unet_fps": batch / seconds["unet"],
        "model_fps": batch / (seconds["unet"] + seconds["vae"]),
    }


def render_fps(
    manager: Any,
    folder: Path,
    args: argparse.Namespace,
    size: int,
    steps: int,
    guided: bool,
    batch: int,
) -> dict[str, Any]:
    """Frames per second of ``render_animation`` (load and compile apart), after a warm-up."""
    from studio.animation.render import render_animation
    from studio.spec import AnimationSpec

    def spec(frames: int, steps: int) -> AnimationSpec:
        return AnimationSpec.model_validate(
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
                    "device": args.device,
                    "dtype": args.dtype,
                    "compile": args.compile,
                    "fast": args.fast,
                },
                "animation": {"fps": 12, "batch_size": batch},
                "output": {"format": "mp4"},
            }
        )

    frames = max(args.frames, 2 * batch)
    with tempfile.TemporaryDirectory() as out:
        render_animation(spec(max(batch, 2), 1), Path(out) / "warm", manager=manager)
        result = render_animation(spec(frames, steps), Path(out) / "run", manager=manager)
    timings = result.timings
    apart = timings.get("load", 0.0) + timings.get("compile", 0.0)
    model = sum(timings.get(k, 0.0) for k in ("unet", "vae", "text_encoder"))
    return {
        "render_fps": frames / (result.seconds - apart),
        "frames": frames,
        "outside_share": 1 - model / (result.seconds - apart),
        "compile_seconds": timings.get("compile", 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=["sd15", "sdxl"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument(
        "--schedules", nargs="+", type=int, default=[25, 4, 2, 1],
        help="steps per frame; 25 (or more) guided, fewer Turbo-style unguided",
    )  # fmt: skip
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--compile", default="off", choices=("auto", "on", "off"))
    parser.add_argument("--fast", action="store_true", help="fast mode (step reuse)")
    parser.add_argument("--smoke", action="store_true", help="tiny models on the CPU")
    args = parser.parse_args()
    if args.smoke:
        args.device, args.dtype, args.frames, args.repeats = "cpu", "float32", 4, 1
        args.batches, args.schedules = [1, 2], [2, 1]

    import torch

    from studio.pipeline.models import LoadOptions, ModelManager

    cuda = args.device.startswith("cuda")
    report: dict[str, Any] = {
        "benchmark": "gpu_speed",
        "date": time.strftime("%Y-%m-%d"),
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "torch": torch.__version__,
        "dtype": args.dtype,
        "load": os.getloadavg()[0],
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        manager = ModelManager(cache_dir=Path(tmp) / "cache", capacity=1)
        for family in args.families:
            folder = build_folder(family, Path(tmp) / family, args.smoke, args.device)
            size = 128 if args.smoke else SIZES[family]  # tiny UNets need 16 latents
            options = LoadOptions(device=args.device, dtype=args.dtype, channels_last=cuda)
            loaded = manager.load(str(folder), options)  # the render's own load options
            for steps in args.schedules:
                guided = steps >= 10 or (args.smoke and steps > 1)
                for batch in args.batches:
                    pure = pure_fps(loaded, size, steps, guided, batch, args.repeats)
                    render = render_fps(manager, folder, args, size, steps, guided, batch)
                    run = {
                        "family": family,
                        "size": size,
                        "steps": steps,
                        "guided": guided,
                        "batch": batch,
                        **{k: round(v, 3) for k, v in pure.items()},
                        "render_fps": round(render["render_fps"], 3),
                        "render_over_unet": round(render["render_fps"] / pure["unet_fps"], 3),
                        "render_over_model": round(render["render_fps"] / pure["model_fps"], 3),
                        "outside_share": round(render["outside_share"], 3),
                        "frames": render["frames"],
                        "compile_seconds": round(render["compile_seconds"], 1),
                    }
                    report["runs"].append(run)
                    print(json.dumps(run), file=sys.stderr, flush=True)
    report["targets"] = {
        f"{name}: render_over_unet >= {want}": next(
            (
                r["render_over_unet"]
                for r in report["runs"]
                if r["family"] == "sd15" and r["batch"] == 8 and r["steps"] == int(name.split()[0])
            ),
            None,
        )
        for name, want in TARGETS.items()
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
