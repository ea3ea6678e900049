"""The speed paths on the CPU: bfloat16 renders, the float32 decode when a reduced-precision
decode gives NaN, fast mode's step reuse, and what the run records of each
(``studio.pipeline.gpu``). torch.compile is in the slow tier (test_compile_slow.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKL

from studio.animation.render import render_animation
from studio.events import CancelToken, NullEvents
from studio.pipeline.common import Clock
from studio.pipeline.denoise import denoise
from studio.pipeline.gpu import VAE_FLOAT32_COUNT, reuses_step, unet_calls
from studio.pipeline.latents import decode, latent_shape, seeded_noise
from studio.pipeline.models import LoadOptions
from studio.pipeline.schedulers import make_scheduler
from studio.pipeline.text import encode_prompts, with_negative
from studio.spec import AnimationSpec


class _Started(NullEvents):
    def started(self, plan):
        self.plan = plan


def _spec(**diffusion) -> AnimationSpec:
    return AnimationSpec.model_validate(
        {
            "prompts": {"schedule": "0: a red circle\n1: a blue square"},
            "diffusion": {
                "model": "builtin:tiny",
                "steps": 6,
                "width": 64,
                "height": 64,
                "device": "cpu",
                **diffusion,
            },
            "animation": {"batch_size": 2},
            "output": {"format": "png"},
        }
    )


def _frames(result) -> list[np.ndarray]:
    from PIL import Image

    folder = result.outputs[0].path
    return [np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))]


def _mean_diffs(a, b) -> list[float]:
    return [np.abs(x.astype(int) - y.astype(int)).mean() for x, y in zip(a, b, strict=True)]


@pytest.fixture(scope="module")
def plain(manager, tmp_path_factory):
    """The float32, plain render of ``_spec()``'s frames."""
    return _frames(render_animation(_spec(), tmp_path_factory.mktemp("plain"), manager=manager))


def test_a_bfloat16_render_makes_its_frames_and_records_its_paths(manager, tmp_path, plain):
    events = _Started()
    result = render_animation(
        _spec(dtype="bfloat16"), tmp_path / "bf16", manager=manager, events=events
    )
    paths = events.plan["gpu_paths"]
    assert paths["dtype"] == "bfloat16" and events.plan["dtype"] == "bfloat16"
    assert paths["sdpa"] and "AttnProcessor2_0" in paths["attention"]
    assert not paths["channels_last"] and not paths["compile"] and not paths["fast"]
    frames = _frames(result)
    assert len(frames) == 2 and all(f.std() > 0 for f in frames)
    # The same picture within bfloat16's precision, not a different one.
    diff = _mean_diffs(frames, plain)
    assert 0 < max(diff) < 20, diff


class _NaNInReducedPrecision(AutoencoderKL):
    """A VAE whose reduced-precision decode overflows (as SD 1.x/SDXL VAEs can in float16)."""

    def decode(self, z, *args, **kwargs):
        out = super().decode(z, *args, **kwargs)
        if self.dtype != torch.float32:
            out.sample[0, 0, 0, 0] = float("nan")
        return out


class _Pipe:
    def __init__(self, vae, scale):
        self.vae, self.vae_scale_factor = vae, scale


def test_a_nan_decode_in_bfloat16_is_done_again_in_float32_and_counted(manager):
    real = manager.load("builtin:tiny", LoadOptions(device="cpu")).pipe
    vae = _NaNInReducedPrecision.from_config(real.vae.config)
    vae.load_state_dict(real.vae.state_dict())
    vae.to(torch.bfloat16).eval()
    pipe = _Pipe(vae, real.vae_scale_factor)
    latents = seeded_noise(latent_shape(real, 64, 64), [1, 2], torch.device("cpu"), torch.float32)
    clock = Clock()
    images = decode(pipe, latents.to(torch.bfloat16), clock)
    assert clock.counts == {VAE_FLOAT32_COUNT: 1}
    assert vae.dtype == torch.bfloat16  # the shared VAE is not cast in place
    want = decode(real, latents)  # the float32 model's own decode
    for got, ref in zip(images, want, strict=True):
        assert np.abs(got.astype(int) - ref.astype(int)).max() <= 8
    decode(pipe, latents.to(torch.bfloat16), clock)
    assert clock.counts[VAE_FLOAT32_COUNT] == 2  # counted per batch
    clean = Clock()
    decode(real, latents, clean)
    assert clean.counts == {}  # a float32 decode is never redone


def test_fast_mode_reuses_the_documented_steps():
    assert [i for i in range(10) if reuses_step(i, 10)] == [3, 5, 7]
    assert [unet_calls(n, fast=True) for n in (4, 10, 20, 30)] == [4, 7, 12, 17]
    assert unet_calls(10, start=3, fast=True) == 5  # a branch's first step is its own call


@pytest.mark.parametrize("start", [0, 3])
def test_fast_mode_makes_fewer_unet_calls_and_the_same_latents_each_time(manager, start):
    pipe = manager.load("builtin:tiny").pipe
    x = seeded_noise(latent_shape(pipe, 64, 64), [3], torch.device("cpu"), torch.float32)
    texts = encode_prompts(pipe, ["a red circle", ""], x.device)
    text = with_negative(texts["a red circle"], texts[""])
    scheduler = make_scheduler(pipe, "ddim")

    def run(reuse):
        return denoise(
            pipe.unet,
            scheduler,
            8,
            x,
            text,
            3.0,
            cancel=CancelToken(),
            clock=Clock(),
            start=start,
            reuse=reuse,
            guidance_stop=0.2,
        )

    plain, fast, again = run(False), run(True), run(True)
    assert plain.unet_calls == plain.steps == 8 - start
    assert fast.unet_calls == unet_calls(8, start, fast=True) < plain.unet_calls
    assert fast.steps == plain.steps  # every scheduler step is still taken (and counted)
    assert torch.equal(fast.latents, again.latents)
    assert not torch.equal(fast.latents, plain.latents)


def test_a_fast_render_records_it_and_stays_close_to_the_plain_one(manager, tmp_path, plain):
    events = _Started()
    fast = render_animation(_spec(fast=True), tmp_path, manager=manager, events=events)
    assert events.plan["gpu_paths"]["fast"] is True
    assert fast.denoise_steps == 2 * 6  # every step is taken and counted, reused or not
    diff = _mean_diffs(_frames(fast), plain)
    assert 0 < max(diff) < 20, diff
