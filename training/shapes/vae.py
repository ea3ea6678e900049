"""Stage 1: the VAE, an AutoencoderKL that downsamples 128 px scenes by 8 to 16x16x4 latents.

It learns to rebuild random training scenes: MSE + L1 + a very small KL term (a larger KL
leaves the latents too noisy to read shapes from). A run can reuse an earlier run's VAE
instead (``TrainConfig.vae_from``); the shipped weights' VAE is the first stage of a plain
default run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from training.shapes.batches import scene_batch
from training.shapes.budget import Budget, lr_at
from training.shapes.config import IMAGE_SIZE

if TYPE_CHECKING:
    from diffusers import AutoencoderKL

__all__ = ["load_vae", "make_vae", "score_reconstructions", "train_vae"]


def make_vae() -> AutoencoderKL:
    """A fresh AutoencoderKL in Stable Diffusion's geometry, sized for 128 px scenes."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(16, 32, 64, 64),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=16,
        sample_size=IMAGE_SIZE,
        mid_block_add_attention=False,
    )


def load_vae(folder: Path) -> tuple[AutoencoderKL, dict]:
    """The float32 VAE of an earlier run's ``folder`` and that run's VAE record."""
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(folder / "vae", dtype=torch.float32)
    earlier = json.loads((folder / "training.json").read_text())["vae"]
    return vae, earlier


def train_vae(
    vae: AutoencoderKL,
    seconds: float,
    rng: np.random.Generator,
    batch: int,
    log: Callable[[str], None],
) -> dict:
    """Train ``vae`` to rebuild random training scenes for ``seconds``; returns
    ``{"steps", "loss"}`` and leaves the VAE in eval mode."""
    peak = 2e-3
    opt = torch.optim.AdamW(vae.parameters(), lr=peak, weight_decay=0.0)
    budget = Budget(seconds)
    state = {"step": 0, "loss": 0.0}
    crop = IMAGE_SIZE // 2

    def step() -> None:
        _, pixels = scene_batch(rng, batch)
        if budget.progress() < 0.8:
            # The VAE is all convolutions: 64 px crops (two per scene) teach it the same
            # edges and colours at a quarter of the cost; the last 20% sees whole images.
            crops = []
            for _ in range(2):
                y, x = rng.integers(0, IMAGE_SIZE - crop + 1, size=2)
                crops.append(pixels[:, :, y : y + crop, x : x + crop])
            pixels = torch.cat(crops)
        for group in opt.param_groups:
            group["lr"] = lr_at(state["step"], budget.progress(), peak, 50)
        posterior = vae.encode(pixels).latent_dist
        recon = vae.decode(posterior.sample()).sample
        # L1 keeps edges crisp; MSE the colours; the KL only stops latents drifting off.
        loss = F.mse_loss(recon, pixels) + 0.5 * F.l1_loss(recon, pixels)
        loss = loss + 1e-7 * posterior.kl().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["step"] += 1
        state["loss"] = (
            0.9 * state["loss"] + 0.1 * loss.item() if state["step"] > 1 else loss.item()
        )
        if state["step"] % 50 == 0:
            log(f"vae step {state['step']} loss {state['loss']:.4f}")

    vae.train()
    while budget.left() > 0:
        step()
    vae.eval()
    return {"steps": state["step"], "loss": round(state["loss"], 5)}


@torch.no_grad()
def score_reconstructions(
    vae: AutoencoderKL, rng: np.random.Generator, count: int = 96
) -> dict[str, float]:
    """Classifier accuracy on VAE round trips of held-out scenes: a ceiling for generation.

    Returns the share right of each of colour, shape, background and position.
    """
    from training.shapes.classifier import classify
    from training.shapes.dataset import HELD_OUT, draw, sample_scene

    combos = sorted(HELD_OUT)
    right = {"colour": 0, "shape": 0, "background": 0, "position": 0}
    for i in range(count):
        colour, shape, background = combos[i % len(combos)]
        scene = sample_scene(rng, colour=colour, shape=shape, background=background)
        pixels = torch.from_numpy(draw(scene, IMAGE_SIZE, rng)).permute(2, 0, 1)[None].float()
        z = vae.encode(pixels / 127.5 - 1).latent_dist.mean
        recon = vae.decode(z).sample[0]
        image = ((recon.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        reading = classify(image)
        for key in right:
            right[key] += getattr(reading, key) == getattr(scene, key)
    return {k: round(v / count, 3) for k, v in right.items()}
