"""Train ``builtin:shapes``: a small Stable Diffusion that draws coloured shapes from captions.

Everything is built here from scratch and a seed, in Stable Diffusion's own format and
geometry: an AutoencoderKL that downsamples 128 px images by 8 to 16x16x4 latents, a
UNet2DConditionModel on those latents, and a CLIPTextModel over the project's own tokenizer
(``studio.pipeline.vocab``; by default with no transformer layers, see ``make_text_encoder``),
trained jointly with the UNet. The result is a diffusers
``StableDiffusionPipeline`` folder in safetensors (float16 weights), loaded by the model
manager as ``builtin:shapes`` with no network.

Stages, each with its share of the time budget:

1. VAE: reconstruct random training scenes (MSE + a very small KL term, as the notes in
   shared/notes advise: a larger KL leaves the latents too noisy to read shapes from).
   ``--vae-from`` reuses an earlier run's VAE instead; ``--vae-tune`` goes on training it,
   and ``--vae-blur`` also decodes blurred latents (a probe, off by default: README).
2. Latent cache: encode a fixed set of training scenes once; the UNet then trains on
   latents, never paying for the VAE again. ``scaling_factor`` gives them unit variance.
   ``--mix-share`` of them are in-between scenes (``training.shapes.dataset.draw_between``: colour,
   and sometimes place and size, partway between two captions).
3. UNet + text encoder: v-prediction on SD's scaled-linear schedule rescaled to zero
   terminal SNR (see NOISE_SCHEDULE), 10% empty captions so classifier-free guidance works
   (``--uncond``), warm-up then cosine learning rate, EMA. An in-between scene is
   conditioned on the slerp of its two captions' embeddings at its mix, the interpolation
   the engine uses between keyframes, so a transition from "red" to "blue" moves through
   the colours between them.
   ``--high-noise`` of each batch trains only the noisiest steps, where the layout is set;
   ``--snr-gamma`` weights the low-noise steps down. The UNet has a coordinate code and the
   caption scales its features (``make_unet``), so position words decide where a shape goes.
   Colour and background words have fixed embeddings in CIELAB order (``colour_code``), so
   the slerp between two colour words lies near the colours between them.
4. Save the pipeline (EMA weights) and print a quick self-check with the shape classifier.

Scenes whose (colour, shape, background) is in ``training.shapes.dataset.HELD_OUT`` are never drawn
for training, so the quality benchmark can test combinations the model never saw.

    .venv/bin/python scripts/train_shapes.py                      # ~45 min on 2 CPU cores
    .venv/bin/python scripts/train_shapes.py --minutes 3 --out /tmp/shapes-smoke   # smoke run

A stage stops when its time is up, so a slower machine trains fewer steps. With
``--unet-steps N`` and time to spare (``--minutes`` well above what N steps take) the UNet
stage stops at step N and its learning rate follows the steps, so the same seed, torch and
thread count give the same weights on a slower or faster CPU (a GPU may differ in the last
bits).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studio.pipeline.vocab import build_tokenizer  # noqa: E402
from training.shapes.dataset import (  # noqa: E402
    Scene,
    caption,
    draw,
    draw_between,
    random_caption_keep,
    training_scene,
)

IMAGE_SIZE = 128
MAX_TOKENS = 24  # "a large purple triangle on a white background at the top left" is 14


# -- models --------------------------------------------------------------------------------


def make_vae():
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


def make_unet(
    cross_dim: int, position_code: bool = False, channels=(64, 64, 128), local_taps: bool = False
):
    from diffusers import UNet2DConditionModel

    config = dict(
        sample_size=IMAGE_SIZE // 8,
        in_channels=4,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=tuple(channels),
        # Attention only below 16x16: at 16x16 it made steps 2-4x slower for little gain.
        # 64 channels at 16x16, where outlines are drawn, rather than 32: each step is
        # ~25% slower, but the loss fell faster per minute and shapes came out better.
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=cross_dim,
        attention_head_dim=8,
        norm_num_groups=16,
    )
    if position_code:
        # Where a shape goes is decided at the first, pure-noise step, from the caption
        # alone; over pure noise, zero padding looks like the noise's own mean, so a plain
        # convolution barely knows where it is. Shifting the input by -1
        # (center_input_sample) makes the padding visible, and a 15x15 first convolution
        # over 16x16 latents sees a different set of in-bounds taps at every pixel: a
        # position code. The pooled caption joins the timestep embedding, and
        # scale_shift lets it scale the features of every ResNet block (FiLM), so "at the
        # top left" can switch on the features of the top left.
        config.update(
            center_input_sample=True,
            conv_in_kernel=15,
            addition_embed_type="text",
            addition_embed_type_num_heads=4,
            resnet_time_scale_shift="scale_shift",
        )
    unet = UNet2DConditionModel(**config)
    if position_code:
        # Four of conv_in's channels start as clean coordinate ramps: on the constant -1
        # the taps add up coherently to a smooth function of x (or y), while the noise adds
        # up incoherently (about 18x weaker at the edges). Learned from random weights,
        # the code was too weak to be found in a 30-minute run.
        with torch.no_grad():
            ramp = (torch.arange(15.0) - 7.0) / 7.0 * 0.01
            weight = unet.conv_in.weight  # (out, 4, 15, 15)
            weight[0] = ramp[None, None, :].expand(4, 15, 15)
            weight[1] = ramp[None, :, None].expand(4, 15, 15)
            weight[2] = -weight[0]
            weight[3] = -weight[1]
            if local_taps:
                # The other channels start as an ordinary 3x3 convolution inside the 15x15
                # kernel. Randomly initialised over all 225 taps, each of them is a wide
                # blur in which a cell's own neighbourhood is ~4% of the variance, and the
                # outline of a small shape has to be dug back out of that; the outer taps
                # can still grow where the training wants them.
                local = torch.empty(weight.shape[0] - 4, weight.shape[1], 3, 3)
                torch.nn.init.kaiming_uniform_(local, a=math.sqrt(5))  # nn.Conv2d's own init
                weight[4:] = 0.0
                weight[4:, :, 6:9, 6:9] = local
    return unet


def load_unet_stage(folder: Path) -> tuple:
    """The UNet and text encoder of an earlier run's ``folder`` in float32, and that run's
    ``training.json`` record, for a warm start."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel

    unet = UNet2DConditionModel.from_pretrained(folder / "unet", dtype=torch.float32)
    text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", dtype=torch.float32)
    return unet, text_encoder, json.loads((folder / "training.json").read_text())


def make_text_encoder(vocab_size: int, hidden: int, layers: int = 2):
    """A small CLIPTextModel. ``layers=0`` leaves token + position embeddings and the final
    LayerNorm: every word keeps a vector of its own.

    Why 0 can be better: trained jointly with the UNet, a 2-layer encoder mixes every word
    into every later token, and the final LayerNorm makes the words compete for each
    token's fixed norm. Background and colour words, useful at every noise level, grew; the
    position words, useful only at the first steps, shrank (their differences fell ~8x
    while background's grew ~9x) until the UNet could not read them at all. With no
    layers, the cross-attention reads "left" from the token "left" alone.
    """
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=hidden,
            intermediate_size=hidden * 4,
            num_hidden_layers=layers,
            num_attention_heads=4,
            max_position_embeddings=MAX_TOKENS,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )


def colour_code(text_encoder, tokenizer, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Give each colour word a token embedding made from its CIELAB colour; returns the
    ``(ids, rows)`` that training keeps fixed.

    Row = one shared vector + a fixed random projection of the word's scaled Lab values, so
    embeddings are linear in colour: the mix of "red" and "blue" that the engine makes
    between keyframes is the code of a colour between them (a magenta), close to no other
    colour word. With learned embeddings the mix of "red" and "blue" lay nearer "green"
    than "purple" in the UNet's eyes: a red-to-blue transition passed through a faint green
    shape. The background words (black, white, gray, blue, green) are the same tokens and
    get the same code.
    """
    from training.shapes.dataset import BACKGROUNDS, COLOURS, srgb_to_lab

    gen = torch.Generator().manual_seed(seed)
    table = text_encoder.get_input_embeddings().weight
    hidden = table.shape[1]
    shared = torch.randn(hidden, generator=gen) * 0.02
    projection = torch.randn(hidden, 3, generator=gen) * 0.04
    ids, rows = [], []
    for word, rgb in {**BACKGROUNDS, **COLOURS}.items():
        (token,) = tokenizer(word, add_special_tokens=False).input_ids
        lab = torch.tensor(srgb_to_lab(rgb), dtype=torch.float32)
        scaled = (lab - torch.tensor([50.0, 0.0, 0.0])) / 50.0
        ids.append(token)
        rows.append(shared + projection @ scaled)
    ids, rows = torch.tensor(ids), torch.stack(rows)
    with torch.no_grad():
        table[ids] = rows
    return ids, rows


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


def make_scheduler():
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        **NOISE_SCHEDULE, clip_sample=False, set_alpha_to_one=False, timestep_spacing="trailing"
    )


# -- data ----------------------------------------------------------------------------------


def scene_batch(rng: np.random.Generator, n: int):
    scenes = [training_scene(rng) for _ in range(n)]
    images = np.stack([draw(s, IMAGE_SIZE, rng) for s in scenes])
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return scenes, pixels


def in_between_pair(rng: np.random.Generator) -> tuple[Scene, Scene, float]:
    """Two training scenes that differ in colour (and maybe place and size), and a mix."""
    a = training_scene(rng)
    b = training_scene(rng, shape=a.shape, background=a.background)
    while b.colour == a.colour:
        b = training_scene(rng, shape=a.shape, background=a.background)
    if rng.random() < 0.5:
        b = dataclasses.replace(b, position=a.position)
    if rng.random() < 0.7:
        b = dataclasses.replace(b, size=a.size)
    return a, b, float(rng.random())


def mixed_batch(rng: np.random.Generator, n: int, share: float):
    """``n`` scenes, ``share`` of them drawn in between two captions (see ``draw_between``).

    Returns ``(pairs, pixels)``: ``pairs[i] = (a, b, w)``, with ``b = a, w = 0`` for a plain scene.
    """
    pairs = [
        in_between_pair(rng) if rng.random() < share else (s := training_scene(rng), s, 0.0)
        for _ in range(n)
    ]
    images = np.stack([draw_between(a, b, w, IMAGE_SIZE, rng) for a, b, w in pairs])
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return pairs, pixels


def lr_at(step: int, progress: float, peak: float, warmup: int) -> float:
    """Warm-up over ``warmup`` steps, then cosine decay over the stage's ``Budget``.

    Scheduling by the budget's progress (elapsed time, or steps when a step count is set and
    comes first) rather than by a step count planned from the first steps' speed keeps the
    schedule right when the machine is busier than it was when the stage started.
    """
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


class Budget:
    """A stage's deadline; ``progress`` is the share of it used, 0 to 1.

    The deadline is ``seconds``, and also ``steps`` when that is set, whichever comes first
    (``done``: the steps the stage has taken). A step count makes a run repeat exactly on a
    slower or faster machine; the time keeps it within its budget.
    """

    def __init__(self, seconds: float, steps: int = 0):
        self.seconds = max(1.0, seconds)
        self.steps = steps
        self.start = time.perf_counter()

    def left(self, done: int = 0) -> float:
        if self.steps and done >= self.steps:
            return 0.0
        return self.seconds - (time.perf_counter() - self.start)

    def progress(self, done: int = 0) -> float:
        share = (time.perf_counter() - self.start) / self.seconds
        if self.steps:
            share = max(share, done / self.steps)
        return min(1.0, share)


# -- stages --------------------------------------------------------------------------------


def blur_latents(z: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian blur of each latent in ``z`` (n, c, h, w) by its own ``sigma`` (n,), in cells.

    Separable, over 7 taps (enough for sigma up to ~1.7), with reflected edges so a blur
    does not darken the border.
    """
    taps = torch.arange(-3.0, 4.0)
    kernel = torch.exp(-0.5 * (taps[None, :] / sigma[:, None].clamp(min=1e-3)) ** 2)
    kernel = kernel / kernel.sum(1, keepdim=True)  # (n, 7)
    n, c, h, w = z.shape
    # One group per (image, channel): each image is blurred with its own kernel.
    k = kernel.repeat_interleave(c, 0)  # (n * c, 7)
    flat = F.pad(z.reshape(1, n * c, h, w), (3, 3, 3, 3), mode="reflect")
    flat = F.conv2d(flat, k[:, None, None, :], groups=n * c)
    flat = F.conv2d(flat, k[:, None, :, None], groups=n * c)
    return flat.reshape(n, c, h, w)


def train_vae(
    vae, seconds: float, rng, batch: int, log, *, blur: float = 0.0, peak: float = 2e-3
) -> dict:
    """Train ``vae`` to rebuild random training scenes for ``seconds``.

    With ``blur`` > 0 every step also decodes a copy of the latents blurred by 0.5 to
    ``blur`` latent cells, against the same sharp picture. The decoder can then only find
    a shape's kind if the encoder writes it into the latent channels over the whole blob,
    as it does a colour, rather than only into the outline's few cells; a UNet that places
    a smooth blob with the right code then gets the right shape.
    """
    opt = torch.optim.AdamW(vae.parameters(), lr=peak, weight_decay=0.0)
    budget = Budget(seconds)
    state = {"step": 0, "loss": 0.0}
    crop = IMAGE_SIZE // 2

    def step():
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
        z = posterior.sample()
        if blur:
            sigma = torch.from_numpy(rng.uniform(0.5, blur, size=len(z))).float()
            z = torch.cat([z, blur_latents(z, sigma)])
            pixels = torch.cat([pixels, pixels])
        recon = vae.decode(z).sample
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


def foreground_map(pixels: torch.Tensor, factor: int = 8) -> torch.Tensor:
    """Where the shape is, at latent resolution: ``(n, 1, h / factor, w / factor)`` in [0, 1].

    A scene's background is one plain colour, so a pixel belongs to the shape where it
    differs from the colour at the image's corner. The share of such pixels in each latent
    cell is then widened by one cell, so the shape's outline, which decides its kind, counts
    as foreground too.
    """
    background = pixels[:, :, :1, :1]
    differs = ((pixels - background).abs().amax(1, keepdim=True) > 0.1).float()
    share = F.avg_pool2d(differs, factor)
    return F.max_pool2d(share, 3, stride=1, padding=1)


@torch.no_grad()
def encode_cache(vae, rng, count: int, mix_share: float, batch: int = 64):
    """Encode ``count`` scenes once: ``(pairs, latents, foreground maps, scaling)``."""
    pairs, latents, masks = [], [], []
    for start in range(0, count, batch):
        p, pixels = mixed_batch(rng, min(batch, count - start), mix_share)
        pairs.extend(p)
        latents.append(vae.encode(pixels).latent_dist.mean)
        masks.append(foreground_map(pixels))
    latents = torch.cat(latents)
    scaling = float(1.0 / latents.std())
    return pairs, latents * scaling, torch.cat(masks), scaling


def train_unet(
    unet,
    text_encoder,
    tokenizer,
    pairs,
    latents,
    masks,
    seconds,
    rng,
    batch,
    log,
    *,
    high_noise,
    keep_p,
    snr_gamma=5.0,
    foreground=0.0,
    fixed_tokens=None,
    steps=0,
    peak=1e-3,
    uncond=0.1,
) -> tuple:
    """Train UNet and text encoder on cached latents of ``pairs`` (see ``mixed_batch``).

    An in-between picture is conditioned on the slerp of its two captions' embeddings at its
    mix, the same interpolation the engine uses between keyframes. ``masks`` are the scenes'
    ``foreground_map``: the error on those cells weighs ``1 + foreground`` times as much as
    on the plain background (each image's weights normalised to mean 1), so a small shape
    is not drowned out by the background around it. ``fixed_tokens`` (``colour_code``'s
    ``(ids, rows)``) are token embeddings kept as they are. ``uncond`` of the captions are
    empty, which trains the unconditional prediction classifier-free guidance starts from.
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

    def step():
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
        error = (
            (unet(xt, t, encoder_hidden_states=text).sample - target).pow(2).mean(1, keepdim=True)
        )
        weight = 1.0 + foreground * masks[torch.from_numpy(idx)]
        error = (error * weight).sum((1, 2, 3)) / weight.sum((1, 2, 3))
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


@torch.no_grad()
def score_reconstructions(vae, rng, count: int = 96, blur: float = 0.0) -> dict:
    """Classifier accuracy on VAE round trips of held-out scenes: a ceiling for generation.

    ``blur`` > 0 blurs each latent by that many cells before decoding (see ``train_vae``).
    """
    from training.shapes.classifier import classify
    from training.shapes.dataset import HELD_OUT, sample_scene

    combos = sorted(HELD_OUT)
    right = {"colour": 0, "shape": 0, "background": 0, "position": 0}
    for i in range(count):
        colour, shape, background = combos[i % len(combos)]
        scene = sample_scene(rng, colour=colour, shape=shape, background=background)
        pixels = torch.from_numpy(draw(scene, IMAGE_SIZE, rng)).permute(2, 0, 1)[None].float()
        z = vae.encode(pixels / 127.5 - 1).latent_dist.mean
        if blur:
            z = blur_latents(z, torch.tensor([blur]))
        recon = vae.decode(z).sample[0]
        image = ((recon.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
        reading = classify(image)
        for key in right:
            right[key] += getattr(reading, key) == getattr(scene, key)
    return {k: round(v / count, 3) for k, v in right.items()}


def self_check(folder: Path, log) -> dict:
    """Draw held-out prompts at every position and size; read them back with the classifier."""
    from diffusers import StableDiffusionPipeline

    from studio.pipeline.builtin import recommended_guidance
    from training.shapes.classifier import classify
    from training.shapes.dataset import HELD_OUT, POSITIONS, SIZES, Scene

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


def main() -> None:
    parser = argparse.ArgumentParser(description="train builtin:shapes")
    parser.add_argument("--out", type=Path, default=ROOT / "studio" / "weights" / "shapes")
    parser.add_argument("--minutes", type=float, default=45.0, help="whole time budget")
    parser.add_argument("--vae-share", type=float, default=0.3, help="of the budget for the VAE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=int, default=12000, help="scenes in the latent cache")
    parser.add_argument("--vae-batch", type=int, default=16)
    parser.add_argument("--unet-batch", type=int, default=64)
    parser.add_argument(
        "--unet-steps",
        type=int,
        default=0,
        help="stop the UNet stage after this many steps, if its time is not up first "
        "(0: time only)",
    )
    parser.add_argument(
        "--high-noise", type=float, default=0.15, help="share of samples at t >= 700"
    )
    parser.add_argument(
        "--local-taps",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="conv_in's non-coordinate channels start as a 3x3 convolution (see make_unet)",
    )
    parser.add_argument(
        "--position-code",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="coordinate code and caption FiLM in the UNet (see make_unet)",
    )
    parser.add_argument(
        "--mix-share", type=float, default=0.1, help="share of in-between scenes (draw_between)"
    )
    parser.add_argument(
        "--keep-p", type=float, default=0.75, help="chance a caption names each optional attribute"
    )
    parser.add_argument(
        "--snr-gamma", type=float, default=5.0, help="min-SNR weighting of low-noise steps (0: off)"
    )
    parser.add_argument(
        "--foreground",
        type=float,
        default=0.0,
        help="extra weight of the shape's latent cells in the loss (see train_unet)",
    )
    parser.add_argument(
        "--colour-code",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="colour words' embeddings fixed to their CIELAB colour (see colour_code)",
    )
    parser.add_argument(
        "--text-layers", type=int, default=0, help="CLIP text encoder layers (0: bag of words)"
    )
    parser.add_argument(
        "--no-self-check",
        dest="self_check",
        action="store_false",
        help="skip drawing held-out prompts at the end",
    )
    parser.add_argument(
        "--channels",
        type=lambda text: tuple(int(c) for c in text.split(",")),
        default=(64, 64, 128),
        help="UNet channels at 16x16, 8x8 and 4x4 latents",
    )
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    parser.add_argument(
        "--vae-from",
        type=Path,
        help="reuse the VAE of an earlier run's folder and skip stage 1 (its time counts there)",
    )
    parser.add_argument(
        "--vae-tune",
        type=float,
        default=0.0,
        help="minutes to go on training the --vae-from VAE (at a quarter of the learning rate)",
    )
    parser.add_argument(
        "--vae-blur",
        type=float,
        default=0.0,
        help="also decode latents blurred by 0.5 to this many cells (0: off; see train_vae)",
    )
    parser.add_argument(
        "--unet-from",
        type=Path,
        help="go on training the UNet and text encoder of an earlier run's folder (a warm "
        "start: their shape is the earlier run's, so --channels, --local-taps, "
        "--position-code and --text-layers do not apply; its VAE too, unless --vae-from "
        "names another copy of it)",
    )
    parser.add_argument(
        "--unet-peak",
        type=float,
        default=0.0,
        help="peak learning rate of the UNet stage (0: 1e-3 from scratch, 5e-4 with --unet-from)",
    )
    parser.add_argument(
        "--uncond",
        type=float,
        default=0.1,
        help="share of empty captions, which train the unconditional prediction that "
        "classifier-free guidance extrapolates from",
    )
    args = parser.parse_args()
    if args.unet_from:
        written = ("unet/config.json", "text_encoder/config.json", "training.json")
        if not all((args.unet_from / name).is_file() for name in written):
            parser.error(f"--unet-from {args.unet_from} is not a folder this script wrote")
        if args.vae_tune or args.vae_blur:
            parser.error(
                "--unet-from goes on training a UNet in its own VAE's latent space; "
                "--vae-tune/--vae-blur would change that space under it"
            )
        args.vae_from = args.vae_from or args.unet_from
    if not 0 <= args.uncond < 1:
        parser.error(f"--uncond is a share from 0 to below 1; got {args.uncond}")
    if args.unet_peak < 0:
        parser.error(f"--unet-peak is a learning rate above 0; got {args.unet_peak}")
    if args.local_taps and not args.position_code:
        parser.error("--local-taps shapes the 15x15 conv_in of --position-code; use them together")
    if args.vae_tune < 0:
        parser.error(f"--vae-tune is minutes of training, 0 or more; got {args.vae_tune}")
    if args.vae_tune and not args.vae_from:
        parser.error("--vae-tune goes on training the VAE of --vae-from; give both")
    if args.vae_blur and not 0.5 <= args.vae_blur <= 1.7:
        # blur_latents' 7 taps cover a width of up to ~1.7 cells; the lowest width is 0.5.
        parser.error(f"--vae-blur is a width from 0.5 to 1.7 latent cells; got {args.vae_blur}")
    if args.vae_blur and args.vae_from and not args.vae_tune:
        parser.error("--vae-blur with --vae-from trains nothing without --vae-tune MINUTES")

    from diffusers import StableDiffusionPipeline

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{(time.perf_counter() - started) / 60:5.1f} min] {message}", flush=True)

    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    tokenizer = build_tokenizer(max_length=MAX_TOKENS)
    total = args.minutes * 60

    if args.vae_from:
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(args.vae_from / "vae", dtype=torch.float32)
        earlier = json.loads((args.vae_from / "training.json").read_text())["vae"]
        vae_stats = {**earlier, "from": str(args.vae_from)}
        log(f"vae: reused from {args.vae_from} ({earlier.get('steps')} steps there)")
        if args.vae_tune:
            vae_stats["tune"] = train_vae(
                vae, args.vae_tune * 60, rng, args.vae_batch, log, blur=args.vae_blur, peak=5e-4
            )
    else:
        vae = make_vae()
        log(f"vae: {sum(p.numel() for p in vae.parameters()) / 1e6:.2f} M params")
        vae_stats = train_vae(
            vae, total * args.vae_share, rng, args.vae_batch, log, blur=args.vae_blur
        )
    for p in vae.parameters():
        p.requires_grad_(False)
    vae_stats["reconstruction"] = score_reconstructions(vae, rng)
    if args.vae_blur:
        vae_stats["blurred_reconstruction"] = score_reconstructions(vae, rng, blur=1.0)
    log(f"vae: {vae_stats}")

    pairs, latents, masks, scaling = encode_cache(vae, rng, args.cache, args.mix_share)
    if args.unet_from:
        unet, text_encoder, earlier_run = load_unet_stage(args.unet_from)
        log(f"unet: warm start from {args.unet_from} ({earlier_run['unet']['steps']} steps there)")
        # The earlier UNet learned latents at the earlier scale; keep it.
        latents = latents * (earlier_run["scaling_factor"] / scaling)
        scaling = earlier_run["scaling_factor"]
        # colour_code is seeded: with the first run's seed it rewrites the rows that run
        # fixed (a warm-started run has its own --seed, for new scenes and noise).
        code_seed = earlier_run.get("colour_code_seed", earlier_run["seed"])
    else:
        text_encoder = make_text_encoder(len(tokenizer), hidden=64, layers=args.text_layers)
        unet = make_unet(
            cross_dim=64,
            position_code=args.position_code,
            channels=args.channels,
            local_taps=args.local_taps,
        )
        earlier_run = None
        code_seed = args.seed
    vae.register_to_config(scaling_factor=scaling)
    log(f"latent cache: {len(pairs)} scenes, scaling_factor {scaling:.4f}")
    fixed_tokens = colour_code(text_encoder, tokenizer, code_seed) if args.colour_code else None
    log(f"unet: {sum(p.numel() for p in unet.parameters()) / 1e6:.2f} M params")
    unet_seconds = total - (time.perf_counter() - started) - 30  # leave time to save
    unet, text_encoder, unet_stats = train_unet(
        unet,
        text_encoder,
        tokenizer,
        pairs,
        latents,
        masks,
        unet_seconds,
        rng,
        args.unet_batch,
        log,
        high_noise=args.high_noise,
        keep_p=args.keep_p,
        snr_gamma=args.snr_gamma,
        foreground=args.foreground,
        fixed_tokens=fixed_tokens,
        steps=args.unet_steps,
        peak=args.unet_peak or (5e-4 if args.unet_from else 1e-3),
        uncond=args.uncond,
    )
    if earlier_run is not None:
        unet_stats["from"] = {"folder": str(args.unet_from), **earlier_run["unet"]}

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
    args.out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(args.out, safe_serialization=True)
    for config in args.out.glob("*/config.json"):
        # A warm start's components were loaded from a folder, whose path they would record.
        fields = json.loads(config.read_text())
        if fields.pop("_name_or_path", None) is not None:
            config.write_text(json.dumps(fields, indent=2, sort_keys=True) + "\n")
    minutes = (time.perf_counter() - started) / 60
    info = {
        "seed": args.seed,
        "colour_code_seed": code_seed,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "minutes": round(minutes, 2),
        "torch_threads": torch.get_num_threads(),
        "vae": vae_stats,
        "unet": unet_stats,
        "scaling_factor": scaling,
        "latent_cache": len(pairs),
        "torch": torch.__version__,
    }
    (args.out / "training.json").write_text(json.dumps(info, indent=2) + "\n")
    log(
        f"saved {args.out} ({sum(f.stat().st_size for f in args.out.rglob('*') if f.is_file()) / 1e6:.1f} MB)"
    )
    if args.self_check:
        info["self_check"] = self_check(args.out, log)
    (args.out / "training.json").write_text(json.dumps(info, indent=2) + "\n")


if __name__ == "__main__":
    main()
