"""SDXL on the real engine: a tiny random-weight SDXL folder (tests/support/sdxl.py) loaded as
StableDiffusionXLPipeline, both text encoders and the pooled embedding, time ids at every UNet
call, float32 VAE decoding, through animate (text, image, video, motion) and blend."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image

from studio.animation.plan import plan_animation
from studio.animation.render import render_animation
from studio.blend.render import render_blend
from studio.events import CancelToken
from studio.media.readers import read_frames
from studio.pipeline.common import Clock, load_options
from studio.pipeline.conditioning import TextStates, unet_extras
from studio.pipeline.denoise import denoise
from studio.pipeline.interpolate import slerp
from studio.pipeline.latents import decode, encode_images
from studio.pipeline.models import LoadOptions, pipeline_class
from studio.pipeline.text import encode_prompts, with_negative
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    BlendKeyframe,
    BlendOutputSettings,
    BlendPromptSettings,
    BlendSettings,
    BlendSpec,
    DiffusionSettings,
    InputSettings,
    MotionSettings,
    OutputSettings,
    PromptSettings,
)
from tests.support.families import model_folder
from tests.support.media import make_video
from tests.support.sdxl import POOLED, SIZE, WIDTHS

TWO = "0: a red circle\n2: a blue square"


@pytest.fixture(scope="module")
def manager(model_cache):
    """A manager of this module's own, with room for every load it makes (SDXL in float32
    and float16, builtin:tiny): the shared one holds two and would load them again and again."""
    from studio.pipeline.models import ModelManager

    return ModelManager(cache_dir=model_cache, capacity=4)


def diffusion(folder, **changes) -> DiffusionSettings:
    return DiffusionSettings(
        **{
            "model": str(folder),
            "steps": 2,
            "width": SIZE,
            "height": SIZE,
            "seed": 3,
            "guidance": 5.0,
            "scheduler": "euler",
            **changes,
        }
    )


def animation(folder, schedule=TWO, **groups) -> AnimationSpec:
    return AnimationSpec(
        prompts=PromptSettings(schedule=schedule),
        diffusion=groups.pop("diffusion", None) or diffusion(folder),
        animation=AnimationSettings(fps=8, batch_size=1),
        output=OutputSettings(format="png"),
        **groups,
    )


def frames_of(result) -> list[np.ndarray]:
    frames = list(read_frames(result.outputs[0].path))
    for frame in frames:
        assert frame.shape == (SIZE, SIZE, 3) and frame.dtype == np.uint8
    return frames


def differ(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def test_an_sdxl_folder_loads_as_sdxl_and_others_as_stable_diffusion(tiny_sdxl, tmp_path, manager):
    assert pipeline_class(str(tiny_sdxl)) == "StableDiffusionXLPipeline"
    assert pipeline_class(str(model_folder(tmp_path, "sd1"))) == "StableDiffusionPipeline"
    assert pipeline_class(str(model_folder(tmp_path, "inpaint"))) == "StableDiffusionPipeline"
    assert pipeline_class("org/not-cached") == "StableDiffusionPipeline"
    assert pipeline_class("builtin:tiny", manager.cache_dir) == "StableDiffusionPipeline"
    loaded = manager.load(str(tiny_sdxl))
    assert type(loaded.pipe).__name__ == "StableDiffusionXLPipeline"
    assert type(manager.load("builtin:tiny").pipe).__name__ == "StableDiffusionPipeline"


def test_the_loop_gives_what_diffusers_sdxl_pipeline_gives(tiny_sdxl, manager):
    """Text (both encoders, pooled, zeros for no negative prompt), time ids, guidance: the
    studio's loop and StableDiffusionXLPipeline agree on the same noise."""
    pipe = manager.load(str(tiny_sdxl)).pipe
    texts = encode_prompts(pipe, ["a red circle", ""], torch.device("cpu"))
    cond = texts["a red circle"]
    assert cond.states.shape == (1, 77, sum(WIDTHS)) and cond.pooled.shape == (1, POOLED)
    assert not texts[""].states.any() and not texts[""].pooled.any()
    noise = torch.randn(1, 4, SIZE // 8, SIZE // 8, generator=torch.Generator().manual_seed(0))
    ours = denoise(
        pipe.unet,
        copy.deepcopy(pipe.scheduler),
        3,
        noise,
        with_negative(cond, texts[""]),
        5.0,
        cancel=CancelToken(),
        clock=Clock(),
        extras=unet_extras(pipe, SIZE, SIZE),
    ).latents
    # Its own scheduler: the shared pipeline is not changed.
    pipe = type(pipe)(**{**pipe.components, "scheduler": copy.deepcopy(pipe.scheduler)})
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(
        prompt="a red circle",
        num_inference_steps=3,
        guidance_scale=5.0,
        latents=noise.clone(),
        height=SIZE,
        width=SIZE,
        output_type="latent",
    ).images
    assert torch.allclose(ours, theirs, atol=1e-5), (ours - theirs).abs().max()


def test_a_mid_frame_reads_pooled_embeddings_between_its_keyframes(tiny_sdxl, tmp_path, manager):
    spec = animation(tiny_sdxl, diffusion=diffusion(tiny_sdxl, guidance=1.0))
    unet = manager.load(str(tiny_sdxl), load_options(spec)).pipe.unet
    seen: list[torch.Tensor] = []

    def record(module, args, kwargs):
        seen.append(kwargs["added_cond_kwargs"]["text_embeds"].clone())
        assert kwargs["added_cond_kwargs"]["time_ids"].tolist() == [[SIZE, SIZE, 0, 0, SIZE, SIZE]]

    hook = unet.register_forward_pre_hook(record, with_kwargs=True)
    try:
        result = render_animation(spec, tmp_path, manager=manager)
    finally:
        hook.remove()
    first, mid, last = seen[0], seen[2], seen[4]  # 2 steps a frame, one frame a batch
    plan = plan_animation(spec)
    assert float(plan.weights.weight[1]) == pytest.approx(0.5)
    assert torch.allclose(mid, slerp(first, last, torch.tensor([0.5])), atol=1e-5)
    assert (mid - first).norm() < (last - first).norm() > (mid - last).norm() > 0
    frames = frames_of(result)
    assert len(frames) == 3 and differ(frames[0], frames[2]) > 0


def test_animate_from_text_differs_between_prompts(tiny_sdxl, tmp_path, manager):
    one = frames_of(
        render_animation(animation(tiny_sdxl, "0: a red circle"), tmp_path / "a", manager=manager)
    )
    two = frames_of(
        render_animation(animation(tiny_sdxl, "0: a blue square"), tmp_path / "b", manager=manager)
    )
    assert len(one) == len(two) == 1 and differ(one[0], two[0]) > 0


@pytest.mark.slow
def test_guided_batches_give_the_frames_one_at_a_time_gives(tiny_sdxl, tmp_path, manager):
    """Time ids and pooled embeddings follow the rows: 3 frames guided are 6 UNet rows."""
    one = animation(tiny_sdxl)
    three = one.replace(animation=one.animation.replace(batch_size=3))
    alone = frames_of(render_animation(one, tmp_path / "1", manager=manager))
    together = frames_of(render_animation(three, tmp_path / "3", manager=manager))
    assert len(alone) == len(together) == 3
    assert max(differ(a, b) for a, b in zip(alone, together, strict=True)) <= 1


@pytest.mark.parametrize("source", ["image", "video", "motion"])
def test_animate_draws_from_an_image_a_video_and_its_own_frames(
    tiny_sdxl, tmp_path, manager, source
):
    if source == "image":
        picture = np.zeros((SIZE, SIZE, 3), np.uint8)
        picture[16:48, 16:48] = (220, 30, 30)
        Image.fromarray(picture).save(tmp_path / "init.png")
        groups = {"input": InputSettings(image=str(tmp_path / "init.png"))}
    elif source == "video":
        video = make_video(tmp_path / "clip.mp4", 3, 8, width=SIZE, height=SIZE)
        groups = {"input": InputSettings(video=str(video))}
    else:
        groups = {}
    groups["motion"] = MotionSettings(
        strength="0: (0.5)", translate_x="0: (4)" if source == "motion" else ""
    )
    result = render_animation(animation(tiny_sdxl, **groups), tmp_path / "out", manager=manager)
    frames = frames_of(result)
    assert len(frames) == 3 and differ(frames[0], frames[-1]) > 0
    if source != "motion":  # img2img at strength 0.5: one of two steps each
        assert result.denoise_steps == 3


@pytest.mark.parametrize("inpaint", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_blend_makes_sdxl_transitions(tiny_sdxl, tmp_path, manager, inpaint):
    settings = BlendSettings(setup="auto", diffusion_frames=3)
    picture = np.zeros((SIZE, SIZE, 3), np.uint8)
    picture[..., 0] = np.arange(SIZE, dtype=np.uint8)[None, :] * 4
    if inpaint:  # the left half held on the given image, the right half transitions
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[:, SIZE // 2 :] = 255
        Image.fromarray(mask).save(tmp_path / "mask.png")
        Image.fromarray(picture).save(tmp_path / "image.png")
        settings = settings.replace(
            inpaint_mask=str(tmp_path / "mask.png"), inpaint_image=str(tmp_path / "image.png")
        )
    spec = BlendSpec(
        prompts=BlendPromptSettings(
            keyframes=(BlendKeyframe("a red circle"), BlendKeyframe("a blue square"))
        ),
        diffusion=diffusion(tiny_sdxl, steps=3, scheduler="ddim"),
        blend=settings,
        output=BlendOutputSettings(fps=8, format="png"),
    )
    frames = frames_of(render_blend(spec, tmp_path / "out", manager=manager))
    assert len(frames) == 3
    assert differ(frames[0], frames[1]) > 0 and differ(frames[1], frames[2]) > 0
    for frame in frames if inpaint else ():
        assert np.array_equal(frame[:, : SIZE // 2], picture[:, : SIZE // 2])


def test_a_float16_sdxl_vae_decodes_in_float32_without_changing_the_shared_one(tiny_sdxl, manager):
    half = manager.load(str(tiny_sdxl), LoadOptions(device="cpu", dtype="float16")).pipe
    full = manager.load(str(tiny_sdxl), LoadOptions(device="cpu", dtype="float32")).pipe
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)) * 1e4
    with torch.no_grad():  # float16 all the way overflows: the case force_upcast is for
        direct = half.vae.decode(latents.half().float().div(0.13025).half()).sample
    assert not torch.isfinite(direct).all()
    ours = decode(half, latents.half())[0]
    assert differ(ours, decode(full, latents.half().float())[0]) <= 1 and ours.any()
    assert half.vae.dtype == torch.float16  # the cached pipeline is not cast in place
    pixels = torch.rand(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 2 - 1
    encoded = encode_images(half, pixels.half())
    assert encoded.dtype == torch.float16
    assert torch.allclose(encoded.float(), encode_images(full, pixels), atol=1e-2)


def test_unet_extras_are_none_for_stable_diffusion(manager):
    assert unet_extras(manager.load("builtin:tiny").pipe, 64, 64) == []


def test_long_prompts_are_padded_to_one_length_as_with_one_encoder(tiny_sdxl, manager):
    texts = ["a red circle", '("a red circle", "a blue square").and()']
    xl = encode_prompts(manager.load(str(tiny_sdxl)).pipe, texts, torch.device("cpu"))
    sd = encode_prompts(manager.load("builtin:tiny").pipe, texts, torch.device("cpu"))
    assert [t.states.shape[1] for t in xl.values()] == [t.states.shape[1] for t in sd.values()]
    assert {t.states.shape for t in xl.values()} == {(1, 154, sum(WIDTHS))}
    assert {t.pooled.shape for t in xl.values()} == {(1, POOLED)}


def test_mixing_keeps_pooled_embeddings_between_keyframes(tiny_sdxl, manager):
    pipe = manager.load(str(tiny_sdxl)).pipe
    texts = encode_prompts(pipe, ["a red circle", "a blue square"], torch.device("cpu"))
    a, b = texts["a red circle"], texts["a blue square"]
    mid = TextStates.mix(a, b, 0.5, lambda x, y, w: x + w * (y - x))
    assert torch.allclose(mid.pooled, (a.pooled + b.pooled) / 2)
