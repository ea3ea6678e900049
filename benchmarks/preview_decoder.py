"""Live preview decoders on builtin:shapes: cost per preview and error against the VAE.
Prints one JSON object.

1. *Latents*: DDIM renders (10 steps, guidance 3, 128 px) of ``--prompts`` captions; every
   step's prediction of the clean latents (what a live preview shows) is kept, the final
   step's separately.
2. *Cost*: each decoder (``tiny``, ``linear``, ``vae``: ``studio.pipeline.preview``) draws
   one latent at a time, the decoders alternating (A B C A B C ...), ``--repeats`` rounds
   over the latents; the median milliseconds per preview, and its ratio to the VAE's.
3. *Error* against the VAE's picture of the same latent: PSNR (dB) and mean 1 - SSIM
   (``studio.media.perceptual.ssim``), over the final latents and over all steps.
4. *Render*: an animation of ``--frames`` frames (batch 4) with previews ``off``, ``tiny``
   after every step (``preview_seconds`` 0) and ``vae`` after every step, alternating,
   ``--repeats`` times: median seconds and the preview stage's share of them.

    .venv/bin/python benchmarks/preview_decoder.py            # the figures in docs/benchmarks.md
    .venv/bin/python benchmarks/preview_decoder.py --prompts 2 --repeats 1 --frames 4  # quick
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROMPTS = (
    "a large red circle on a white background",
    "a small blue square at the top left",
    "a yellow star on a black background",
    "a green triangle at the bottom right",
    "a large purple square on a yellow background",
    "a small orange circle on the right",
    "a white star on a blue background",
    "a large cyan triangle",
)


def _latents(loaded, prompts: list[str]) -> tuple[list, list]:
    """(every step's clean-latent predictions, the final latents), each (1, 4, 16, 16)."""
    import torch

    from studio.events import CancelToken
    from studio.pipeline.common import Clock
    from studio.pipeline.denoise import denoise
    from studio.pipeline.schedulers import make_scheduler
    from studio.pipeline.text import encode_prompts, with_negative

    pipe = loaded.pipe
    scheduler = make_scheduler(pipe, "ddim")
    texts = encode_prompts(pipe, [*prompts, ""], loaded.device)
    steps, finals = [], []
    for i, prompt in enumerate(prompts):
        noise = torch.randn((1, 4, 16, 16), generator=torch.Generator().manual_seed(100 + i))
        done = denoise(
            pipe.unet,
            scheduler,
            10,
            noise,
            with_negative(texts[prompt], texts[""]),
            3.0,
            cancel=CancelToken(),
            clock=Clock(),
            guidance_stop=0.2,
            watch=lambda x0: steps.append(x0.clone()),
        )
        finals.append(done.latents)
    return steps, finals


def _error(decoder, vae, latents: list) -> dict[str, float]:
    from studio.media.perceptual import ssim

    psnr, dissim = [], []
    for x in latents:
        a, b = decoder(x).astype(np.float64), vae(x).astype(np.float64)
        psnr.append(10 * np.log10(255**2 / max(float(np.mean((a - b) ** 2)), 1e-12)))
        dissim.append(1 - ssim(a.astype(np.uint8), b.astype(np.uint8)))
    return {
        "psnr_db": round(float(np.mean(psnr)), 2),
        "one_minus_ssim": round(float(np.mean(dissim)), 4),
    }


def _render(manager, preview: str, frames: int, out: Path) -> tuple[float, float]:
    from studio.animation.render import render_animation
    from studio.spec import (
        AnimationSettings,
        AnimationSpec,
        DiffusionSettings,
        OutputSettings,
        PromptSettings,
    )

    spec = AnimationSpec(
        prompts=PromptSettings(schedule=f"0: {PROMPTS[0]}\n{frames - 1}: {PROMPTS[1]}"),
        diffusion=DiffusionSettings(steps=10, preview=preview, preview_seconds=0.0),
        animation=AnimationSettings(fps=8, batch_size=4),
        output=OutputSettings(format="png"),
    )
    result = render_animation(spec, out, manager=manager, events=_watching_events())
    return result.seconds, result.timings.get("preview", 0.0)


def _watching_events():
    from studio.events import NullEvents

    class Watching(NullEvents):
        """A listener for progress: a render draws live previews only for one."""

        def progress(self, done, total, preview=None):
            pass

    return Watching()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=16)
    args = parser.parse_args()

    import os

    from studio.pipeline.models import ModelManager
    from studio.pipeline.preview import open_preview

    manager = ModelManager()
    loaded = manager.load("builtin:shapes")
    steps, finals = _latents(loaded, list(PROMPTS[: args.prompts]))
    decoders = {name: open_preview(name, loaded, manager) for name in ("tiny", "linear", "vae")}
    for decoder in decoders.values():  # warm up
        decoder(finals[0])
    seconds: dict[str, list[float]] = {name: [] for name in decoders}
    for _ in range(args.repeats):
        for x in steps:
            for name, decoder in decoders.items():
                began = time.perf_counter()
                decoder(x)
                seconds[name].append(time.perf_counter() - began)
    vae_ms = statistics.median(seconds["vae"]) * 1000
    report: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch threads "
        f"{__import__('torch').get_num_threads()}",
        "load": os.getloadavg()[0],
        "latents": {"steps": len(steps), "final": len(finals)},
        "decoders": {},
    }
    for name, decoder in decoders.items():
        ms = statistics.median(seconds[name]) * 1000
        report["decoders"][name] = {
            "ms_per_preview": round(ms, 3),
            "of_vae": round(ms / vae_ms, 4),
            "error_final": _error(decoder, decoders["vae"], finals),
            "error_steps": _error(decoder, decoders["vae"], steps),
        }
    runs: dict[str, list[tuple[float, float]]] = {"off": [], "tiny": [], "vae": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name in runs:
                runs[name].append(_render(manager, name, args.frames, Path(tmp) / f"{name}{r}"))
    off = statistics.median(s for s, _ in runs["off"])
    report["render"] = {
        "frames": args.frames,
        "steps": 10,
        **{
            name: {
                "seconds": round(statistics.median(s for s, _ in v), 3),
                "of_off": round(statistics.median(s for s, _ in v) / off, 4),
                "preview_share": round(statistics.median(p / s for s, p in v), 4),
            }
            for name, v in runs.items()
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
