"""Live previews (studio.pipeline.preview): the shipped tiny decoder of builtin:shapes, the
linear map, a user's AutoencoderTiny folder, and renders whose frames previews never touch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.animation.render import render_animation
from studio.blend.render import render_blend
from studio.errors import SpecError
from studio.events import NullEvents
from studio.media.readers import read_frames
from studio.pipeline.latents import decode, encode_images
from studio.pipeline.preview import TINY_WEIGHTS, TinyDecoder, check_preview, open_preview
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    BlendKeyframe,
    BlendOutputSettings,
    BlendPromptSettings,
    BlendSettings,
    BlendSpec,
    DiffusionSettings,
    OutputSettings,
    PromptSettings,
)
from tests.support.taesd import build_tiny_taesd

# builtin:shapes' decoders against its VAE on the three pictures below: the tiny decoder
# measured 31.6, 24.2 and 18.1 dB PSNR, the linear map 16.0, 15.0 and 17.5 dB, and the tiny
# decoder on another picture's latents 5.6 dB (training.shapes.preview measured 24.6 and
# 16.3 dB on held-out latents, the blurry step predictions included); bounds a little under.
TINY_PSNR_DB = 16.0
LINEAR_PSNR_DB = 13.0


class Previews(NullEvents):
    """Keeps every progress call's count and preview."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, np.ndarray | None]] = []

    def progress(self, done, total, preview=None):
        self.seen.append((done, preview))


def _pictures(size: int = 64) -> torch.Tensor:
    """Three fixed pictures like builtin:shapes draws: a plain background, a square, a disc
    (3, 3, size, size) in [-1, 1]."""
    y, x = np.mgrid[:size, :size] / size
    out = np.zeros((3, size, size, 3), np.float32)
    out[:] = (0.9, 0.9, 0.85)
    out[1, (abs(x - 0.5) < 0.25) & (abs(y - 0.5) < 0.25)] = (0.8, 0.1, 0.1)
    out[2] = (0.1, 0.2, 0.6)
    out[2, (x - 0.4) ** 2 + (y - 0.6) ** 2 < 0.06] = (0.95, 0.8, 0.1)
    return torch.from_numpy(out).permute(0, 3, 1, 2) * 2 - 1


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return 10 * np.log10(255**2 / max(mse, 1e-12))


@pytest.fixture(scope="module")
def shapes(manager):
    return manager.load("builtin:shapes")


def test_the_shipped_tiny_decoder_draws_what_the_vae_draws(shapes, manager):
    assert TINY_WEIGHTS["builtin:shapes"].stat().st_size < 1_000_000
    assert isinstance(TinyDecoder.load(TINY_WEIGHTS["builtin:shapes"]), TinyDecoder)
    latents = encode_images(shapes.pipe, _pictures())  # (3, 4, 8, 8)
    truth = decode(shapes.pipe, latents)
    tiny = open_preview("auto", shapes, manager)
    linear = open_preview("linear", shapes, manager)
    assert tiny.name == "tiny" and linear.name == "linear"
    for i, want in enumerate(truth):
        image = tiny(latents[i : i + 1])
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        assert _psnr(image, want) > TINY_PSNR_DB, i
        assert _psnr(linear(latents[i : i + 1]), want) > LINEAR_PSNR_DB, i
    assert _psnr(tiny(latents[1:2]), truth[2]) < TINY_PSNR_DB  # it tells pictures apart


def test_previews_never_touch_a_renders_frames(manager, tmp_path):
    def render(
        preview: str, out: str, watched: bool = True
    ) -> tuple[list[np.ndarray], Previews, dict]:
        spec = AnimationSpec(
            prompts=PromptSettings(schedule="0: a red circle\n3: a blue square"),
            diffusion=DiffusionSettings(
                steps=2, width=64, height=64, seed=3, preview=preview, preview_seconds=0.0
            ),
            animation=AnimationSettings(fps=8, batch_size=2),
            output=OutputSettings(format="png"),
        )
        events = Previews()
        result = render_animation(
            spec, tmp_path / out, manager=manager, events=events if watched else None
        )
        return list(read_frames(result.outputs[0].path)), events, result.extra["preview"]

    plain, quiet, off = render("off", "off")
    shown, events, tiny = render("tiny", "tiny")
    unseen, _, unwatched = render("tiny", "unwatched", watched=False)
    # Nobody watches (no events: NullEvents): no preview is drawn, the frames are the same.
    assert unwatched["decoder"] == "tiny" and unwatched["previews"] == 0
    assert off["decoder"] == "off" and off["previews"] == 0
    assert [d for d, _ in quiet.seen] == [2, 4]  # finished frames only
    assert tiny["decoder"] == "tiny" and tiny["previews"] == 4  # 2 batches of 2 steps
    # The second batch denoises while the first is written on the frame worker: its previews
    # still say 0 frames finished, and the first batch's 2 is reported once it is on disk.
    assert [d for d, _ in events.seen] == [0, 0, 0, 0, 2, 4]
    assert all(p.shape == (64, 64, 3) for _, p in events.seen)
    assert len(shown) == len(plain) == len(unseen) == 4
    for a, b, c in zip(plain, shown, unseen, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_a_users_autoencoder_tiny_folder_draws_the_previews(manager, tmp_path):
    folder = build_tiny_taesd(tmp_path / "taesd")
    loaded = manager.load("builtin:tiny")
    decoder = open_preview(str(folder), loaded, manager)
    assert decoder.name == "taesd"
    from diffusers import AutoencoderTiny

    latents = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = AutoencoderTiny.from_pretrained(folder).decode(latents).sample
    want = ((want / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 0)
    assert np.array_equal(decoder(latents), want.numpy())

    spec = BlendSpec(
        prompts=BlendPromptSettings(
            keyframes=(BlendKeyframe("a red circle"), BlendKeyframe("a blue square"))
        ),
        diffusion=DiffusionSettings(
            model="builtin:tiny",
            steps=2,
            width=64,
            height=64,
            preview=str(folder),
            preview_seconds=0.0,
        ),
        blend=BlendSettings(setup="auto", diffusion_frames=3),
        output=BlendOutputSettings(fps=8, fill="none", format="png"),
    )
    events = Previews()
    result = render_blend(spec, tmp_path / "blend", manager=manager, events=events)
    assert result.extra["preview"]["decoder"] == "taesd"
    assert result.extra["preview"]["previews"] > 0
    assert all(p.shape == (64, 64, 3) for _, p in events.seen)


def test_a_decoder_the_model_has_not_is_refused(tmp_path):
    check_preview("auto", "builtin:tiny")
    check_preview("tiny", "builtin:shapes")
    with pytest.raises(SpecError, match="no tiny preview decoder is trained for builtin:tiny"):
        check_preview("tiny", "builtin:tiny")
    (tmp_path / "config.json").write_text('{"_class_name": "AutoencoderKL"}')
    with pytest.raises(SpecError, match="holds AutoencoderKL, not an AutoencoderTiny"):
        check_preview(str(tmp_path), "builtin:tiny")
    with pytest.raises(SpecError, match="preview must be"):
        AnimationSpec(diffusion=DiffusionSettings(preview=" off")).check()
