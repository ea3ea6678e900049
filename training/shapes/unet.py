"""Stages 2 and 3: the latent cache, then the UNet, trained jointly with the text encoder.

The latent cache encodes a fixed set of training scenes once (``TrainConfig.cache``), so
the UNet trains on latents and never pays for the VAE again; ``scaling_factor`` gives them
unit variance. ``mix_share`` of them are in-between scenes (colour, and sometimes place and
size, partway between two captions), conditioned on the slerp of their two captions'
embeddings at their mix: the interpolation the engine uses between keyframes, so a
transition from "red" to "blue" moves through the colours between them.

The UNet predicts v on SD's scaled-linear schedule rescaled to zero terminal SNR
(:data:`NOISE_SCHEDULE`); ``uncond`` of the captions are empty so classifier-free guidance
works; warm-up then cosine learning rate; EMA weights are what is saved. ``high_noise`` of
each batch trains only the noisiest steps, where the layout is set, and ``snr_gamma``
weights the low-noise steps down. The UNet has a coordinate code and the caption scales its
features (:func:`make_unet`), so position words decide where a shape goes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from training.shapes.batches import mixed_batch
from training.shapes.budget import Budget, lr_at
from training.shapes.config import IMAGE_SIZE, MAX_TOKENS
from training.shapes.dataset import Scene, caption, random_caption_keep
from training.shapes.text import HIDDEN

if TYPE_CHECKING:
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel

__all__ = [
    "NOISE_SCHEDULE",
    "UNET_CHANNELS",
    "encode_cache",
    "load_unet_stage",
    "make_scheduler",
    "make_unet",
    "train_unet",
]

# Channels at 16x16, 8x8 and 4x4 latents. 64 at 16x16, where outlines are drawn, rather than
# 32: each step is ~25% slower, but the loss fell faster per minute and shapes came out
# better (v4 -> v5); 96 or 128 cost 1.6x or 2x the step time.
UNET_CHANNELS: tuple[int, int, int] = (64, 64, 128)

# Stable Diffusion's betas, rescaled so the last step is pure noise (zero terminal SNR),
# with v-prediction. With SD's own schedule a little of the image survives even the last
# step; the model learns to read the background colour and the shape's place from that leak,
# and at sampling time, starting from pure noise, it cannot: backgrounds and positions came
# out at chance. Trailing timesteps make sampling start at that pure-noise step.
NOISE_SCHEDULE = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "rescale_betas_zero_snr": True,
    "prediction_type": "v_prediction",
}


def make_unet(
    cross_dim: int = HIDDEN, channels: Sequence[int] = UNET_CHANNELS
) -> UNet2DConditionModel:
    """A fresh UNet2DConditionModel on 16x16x4 latents, with the coordinate code.

    ``channels``: per resolution, 16x16 first (tests build smaller ones).

    Where a shape goes is decided at the first, pure-noise step, from the caption alone;
    over pure noise, zero padding looks like the noise's own mean, so a plain convolution
    barely knows where it is. Shifting the input by -1 (``center_input_sample``) makes the
    padding visible, and a 15x15 first convolution over 16x16 latents sees a different set
    of in-bounds taps at every pixel: a position code. The pooled caption joins the timestep
    embedding, and ``scale_shift`` lets it scale the features of every ResNet block (FiLM),
    so "at the top left" can switch on the features of the top left.
    """
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel(
        sample_size=IMAGE_SIZE // 8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=tuple(channels),
        # Attention only below 16x16: at 16x16 it made steps 2-4x slower for little gain.
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_dim,
        attention_head_dim=8,
        norm_num_groups=16,
        center_input_sample=True,
        conv_in_kernel=15,
        addition_embed_type="text",
        addition_embed_type_num_heads=4,
        resnet_time_scale_shift="scale_shift",
    )
    # Four of conv_in's channels start as clean coordinate ramps: on the constant -1 the
    # taps add up coherently to a smooth function of x (or y), while the noise adds up
    # incoherently (about 18x weaker at the edges). Learned from random weights, the code
    # was too weak to be found in a 30-minute run.
    with torch.no_grad():
        ramp = (torch.arange(15.0) - 7.0) / 7.0 * 0.01
        weight = unet.conv_in.weight  # (out, 4, 15, 15)
        weight[0] = ramp[None, None, :].expand(4, 15, 15)
        weight[1] = ramp[None, :, None].expand(4, 15, 15)
        weight[2] = -weight[0]
        weight[3] = -weight[1]
    return unet


def make_scheduler() -> DDIMScheduler:
    """The scheduler the saved pipeline samples with: DDIM on :data:`NOISE_SCHEDULE`."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        **NOISE_SCHEDULE, clip_sample=False, set_alpha_to_one=False, timestep_spacing="trailing"
    )


def load_unet_stage(folder: Path) -> tuple[UNet2DConditionModel, CLIPTextModel, dict]:
    """The UNet and text encoder of an earlier run's ``folder`` in float32, and that run's
    ``training.json`` record, for a warm start."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    unet = UNet2DConditionModel.from_pretrained(folder / "unet", dtype=torch.float32)
    text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", dtype=torch.float32)
    return unet, text_encoder, json.loads((folder / "training.json").read_text())


@torch.no_grad()
def encode_cache(
    vae: AutoencoderKL, rng: np.random.Generator, count: int, mix_share: float, batch: int = 64
) -> tuple[list[tuple[Scene, Scene, float]], torch.Tensor, float]:
    """Encode ``count`` scenes once (see ``mixed_batch``): ``(pairs, latents, scaling)``.

    ``latents``: ``(count, 4, 16, 16)``, already multiplied by ``scaling``, which gives them
    unit standard deviation.
    """
    pairs, latents = [], []
    for start in range(0, count, batch):
        p, pixels = mixed_batch(rng, min(batch, count - start), mix_share)
        pairs.extend(p)
        latents.append(vae.encode(pixels).latent_dist.mean)
    latents = torch.cat(latents)
    scaling = float(1.0 / latents.std())
    return pairs, latents * scaling, scaling


def train_unet(
    unet: UNet2DConditionModel,
    text_encoder: CLIPTextModel,
    tokenizer: Callable,
    pairs: Sequence[tuple[Scene, Scene, float]],
    latents: torch.Tensor,
    seconds: float,
    rng: np.random.Generator,
    batch: int,
    log: Callable[[str], None],
    *,
    high_noise: float,
    keep_p: float,
    snr_gamma: float = 5.0,
    fixed_tokens: tuple[torch.Tensor, torch.Tensor] | None = None,
    steps: int = 0,
    peak: float = 1e-3,
    uncond: float = 0.1,
) -> tuple[UNet2DConditionModel, CLIPTextModel, dict]:
    """Train UNet and text encoder on cached ``latents`` of ``pairs`` (see ``encode_cache``).

    Runs for ``seconds``, or ``steps`` when that comes first (0: time only). An in-between
    picture is conditioned on the slerp of its two captions' embeddings at its mix.
    ``fixed_tokens`` (``colour_code``'s ``(ids, rows)``) are token embeddings kept as they
    are. ``uncond`` of the captions are empty, which trains the unconditional prediction
    classifier-free guidance starts from. Returns the EMA copies of the UNet and the text
    encoder and ``{"steps", "loss"}``.
    """
    from diffusers import DDPMScheduler

    from studio.pipeline.interpolate import slerp

    noise_sched = DDPMScheduler(**NOISE_SCHEDULE)
    alphas = noise_sched.alphas_cumprod
    params = list(unet.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=peak, weight_decay=1e-2)
    ema_unet, ema_text = copy.deepcopy(unet).eval(), copy.deepcopy(text_encoder).eval()
    for p in list(ema_unet.parameters()) + list(ema_text.parameters()):
        p.requires_grad_(False)
    budget = Budget(seconds, steps)
    state = {"step": 0, "loss": 0.0}
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))

    def step() -> None:
        idx = rng.integers(len(pairs), size=batch)
        texts = []
        for i in idx:
            a, b, _ = pairs[i]
            if rng.random() < uncond:
                texts.append(("", ""))
            else:
                keep = random_caption_keep(rng, keep_p)
                texts.append((caption(a, keep), caption(b, keep)))
        ids = tokenizer(
            [t[0] for t in texts] + [t[1] for t in texts],
            padding="max_length",
            max_length=MAX_TOKENS,
            truncation=True,
            return_tensors="pt",
        ).input_ids
        mix = torch.tensor([pairs[i][2] for i in idx], dtype=torch.float32)
        x0 = latents[torch.from_numpy(idx)]
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, 1000, (batch,), generator=gen)
        # Where the shape goes is decided in the first, noisiest steps, from the caption alone;
        # a share of the batch trains only those steps.
        late = torch.rand(batch, generator=gen) < high_noise
        t = torch.where(late, torch.randint(700, 1000, (batch,), generator=gen), t)
        xt = noise_sched.add_noise(x0, noise, t)
        for group in opt.param_groups:
            group["lr"] = lr_at(state["step"], budget.progress(state["step"]), peak, 100)
        encoded = text_encoder(ids)[0]
        text = slerp(encoded[:batch], encoded[batch:], mix)
        target = noise_sched.get_velocity(x0, noise, t)
        prediction = unet(xt, t, encoder_hidden_states=text).sample
        error = (prediction - target).pow(2).mean(1, keepdim=True).mean((1, 2, 3))
        if snr_gamma:
            # Min-SNR weighting, on the low-noise side only: steps whose SNR + 1 is above
            # gamma (little left to decide: fine detail the VAE decoder sharpens anyway)
            # count less, so the gradient goes to the middle, where shapes form. The noisy
            # end keeps full weight: that is where position words act.
            snr = alphas[t] / (1 - alphas[t])
            error = error * (snr_gamma / (snr + 1)).clamp(max=1.0)
        loss = error.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if fixed_tokens is not None:
            with torch.no_grad():  # undo the step and the weight decay on the fixed rows
                table = text_encoder.get_input_embeddings().weight
                table[fixed_tokens[0]] = fixed_tokens[1]
        # EMA, warming up so the early average is not stuck on random weights.
        decay = min(0.999, (1 + state["step"]) / (10 + state["step"]))
        with torch.no_grad():
            for live, avg in ((unet, ema_unet), (text_encoder, ema_text)):
                for p, q in zip(live.parameters(), avg.parameters(), strict=True):
                    q.lerp_(p, 1 - decay)
        state["step"] += 1
        state["loss"] = (
            0.98 * state["loss"] + 0.02 * loss.item() if state["step"] > 1 else loss.item()
        )
        if state["step"] % 100 == 0:
            log(f"unet step {state['step']} loss {state['loss']:.4f}")

    unet.train()
    text_encoder.train()
    while budget.left(state["step"]) > 0:
        step()
    return ema_unet, ema_text, {"steps": state["step"], "loss": round(state["loss"], 5)}
