"""How builtin:shapes' tiny preview decoder and the built-in models' linear factors were made.

``python -m training.shapes.preview`` (CPU, a few minutes):

1. latents: shapes pictures of the procedural dataset encoded by the model's VAE (the
   posterior mean times its scaling factor), and the model's own predictions of clean
   latents at every step of DDIM renders of random captions (what a live preview shows);
2. targets: each latent decoded by the real VAE;
3. linear factors: least squares from each latent pixel (and a bias) to the mean colour of
   its 8x8 block of the target, for builtin:shapes and builtin:tiny (printed, for
   ``studio.pipeline.preview.LINEAR_FACTORS``);
4. the tiny decoder (``studio.pipeline.preview.TinyDecoder``), trained with Adam on the mean
   squared error for ``--minutes``, saved as safetensors into ``--out``;
5. its error and the linear map's against the VAE on held-out latents (PSNR, mean 1 - SSIM),
   written next to the weights as ``training.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from studio.media.perceptual import ssim
from studio.pipeline.preview import TINY_WEIGHTS, TinyDecoder
from training.shapes.batches import scene_batch
from training.shapes.dataset import caption, sample_scene

__all__ = ["fit_linear", "main", "make_latents", "measure"]


def make_latents(pipe: object, pictures: int, renders: int, steps: int, seed: int) -> torch.Tensor:
    """(N, 4, h, w) model-space latents: ``pictures`` encoded dataset images, then every
    step's clean-latent prediction of ``renders`` DDIM renders of ``steps`` steps."""
    from studio.events import CancelToken
    from studio.pipeline.common import Clock
    from studio.pipeline.denoise import denoise
    from studio.pipeline.latents import latent_shape
    from studio.pipeline.schedulers import make_scheduler
    from studio.pipeline.text import encode_prompts, with_negative

    rng = np.random.default_rng(seed)
    vae = pipe.vae
    found = []
    with torch.no_grad():
        for start in range(0, pictures, 32):
            _, pixels = scene_batch(rng, min(32, pictures - start))
            found.append(vae.encode(pixels).latent_dist.mean * vae.config.scaling_factor)
    scheduler = make_scheduler(pipe, "ddim")
    shape = (1, *latent_shape(pipe, 128, 128))
    captions = [caption(sample_scene(rng)) for _ in range(renders)]
    texts = encode_prompts(pipe, [*set(captions), ""], torch.device("cpu"))
    for i, text in enumerate(captions):
        noise = torch.randn(shape, generator=torch.Generator().manual_seed(seed + i))
        denoise(
            pipe.unet,
            scheduler,
            steps,
            noise,
            with_negative(texts[text], texts[""]),
            3.0,
            cancel=CancelToken(),
            clock=Clock(),
            guidance_stop=0.2,
            watch=lambda x0: found.append(x0.clone()),
        )
    return torch.cat(found)


def decode_targets(vae: object, latents: torch.Tensor) -> torch.Tensor:
    """The VAE's pictures of ``latents``: (N, 3, 8h, 8w) in [0, 1]."""
    out = []
    with torch.no_grad():
        for chunk in latents.split(32):
            images = vae.decode(chunk / vae.config.scaling_factor).sample
            out.append((images / 2 + 0.5).clamp(0, 1))
    return torch.cat(out)


def fit_linear(latents: torch.Tensor, targets: torch.Tensor) -> tuple[list, list]:
    """Least squares: each latent pixel (C values and 1) -> the mean RGB in [-1, 1] of its
    8x8 block of ``targets``. Returns the (C x 3) matrix and 3 biases, rounded to 4 places."""
    blocks = torch.nn.functional.avg_pool2d(targets * 2 - 1, 8)  # (N, 3, h, w)
    x = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1]).double()
    x = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    y = blocks.permute(0, 2, 3, 1).reshape(-1, 3).double()
    solution = torch.linalg.lstsq(x, y).solution
    matrix = [[round(float(v), 4) for v in row] for row in solution[:-1]]
    return matrix, [round(float(v), 4) for v in solution[-1]]


def measure(pictures: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """PSNR (dB, on 0..255 pixels) and mean 1 - SSIM of ``pictures`` against ``targets``,
    both (N, 3, H, W) in [0, 1], as uint8 frames are compared."""
    a = (pictures.clamp(0, 1) * 255).round().permute(0, 2, 3, 1).numpy().astype(np.uint8)
    b = (targets * 255).round().permute(0, 2, 3, 1).numpy().astype(np.uint8)
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return {
        "psnr_db": round(10 * np.log10(255**2 / max(mse, 1e-12)), 2),
        "one_minus_ssim": round(
            float(np.mean([1 - ssim(x, y) for x, y in zip(a, b, strict=True)])), 4
        ),
    }


def train(
    latents: torch.Tensor, targets: torch.Tensor, minutes: float, seed: int, log=print
) -> TinyDecoder:
    """The tiny decoder fitted to ``targets`` for ``minutes`` of wall time (Adam at a fixed
    rate, batches of 32, mean squared error): how many steps that is depends on the machine."""
    torch.manual_seed(seed)
    decoder = TinyDecoder(latents.shape[1])
    optimiser = torch.optim.Adam(decoder.parameters(), lr=2e-3)
    rng = np.random.default_rng(seed)
    end = time.monotonic() + minutes * 60
    step = 0
    while time.monotonic() < end:
        pick = torch.from_numpy(rng.choice(len(latents), 32, replace=False))
        loss = torch.nn.functional.mse_loss(decoder(latents[pick]), targets[pick])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        step += 1
        if step % 200 == 0:
            log(f"step {step}: loss {loss.item():.5f}")
    log(f"{step} steps")
    return decoder.eval().requires_grad_(False)


def main(argv: Sequence[str] | None = None) -> None:
    from safetensors.torch import save_file

    from studio.pipeline.models import ModelManager

    parser = argparse.ArgumentParser(prog="python -m training.shapes.preview", description=__doc__)
    parser.add_argument("--out", type=Path, default=TINY_WEIGHTS["builtin:shapes"].parent)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--pictures", type=int, default=384)
    parser.add_argument("--renders", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=["builtin:tiny", "builtin:shapes"])
    parser.add_argument(
        "--cache", type=Path, default=None, help="keep builtin:shapes' latents and targets here"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    manager = ModelManager()
    facts: dict = {"args": {k: str(v) for k, v in vars(args).items()}}
    for ref in args.models:
        pipe = manager.load(ref).pipe
        if args.cache is not None and args.cache.is_file() and ref == "builtin:shapes":
            latents, targets = torch.load(args.cache)
        else:
            latents = make_latents(pipe, args.pictures, args.renders, args.steps, args.seed)
            targets = decode_targets(pipe.vae, latents)
            if args.cache is not None and ref == "builtin:shapes":
                torch.save((latents, targets), args.cache)
        held = torch.arange(len(latents)) % 8 == 0  # every 8th latent is held out
        matrix, bias = fit_linear(latents[~held], targets[~held])
        print(f"{ref} linear factors: {json.dumps([matrix, bias])}")
        m, b = torch.tensor(matrix), torch.tensor(bias)
        linear = torch.einsum("bchw,cd->bdhw", latents[held], m) + b[:, None, None]
        linear = torch.nn.functional.interpolate(linear, scale_factor=8) / 2 + 0.5
        facts[ref] = {"latents": len(latents), "linear": [matrix, bias]}
        facts[ref]["linear_error"] = measure(linear, targets[held])
        if ref != "builtin:shapes":
            continue
        decoder = train(latents[~held], targets[~held], args.minutes, args.seed)
        with torch.no_grad():
            facts[ref]["tiny_error"] = measure(decoder(latents[held]), targets[held])
        args.out.mkdir(parents=True, exist_ok=True)
        state = {k: v.contiguous() for k, v in decoder.state_dict().items()}
        save_file(state, str(args.out / "tiny_decoder.safetensors"), metadata=decoder.config())
    (args.out / "training.json").write_text(json.dumps(facts, indent=2) + "\n")
    print(json.dumps(facts, indent=2))


if __name__ == "__main__":
    main()
