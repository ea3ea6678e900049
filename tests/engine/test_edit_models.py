"""Inpainting (9-channel) and InstructPix2Pix (8-channel) UNets in animations and blends, on
tiny random-weight models (tests/support/edit_models.py) through the real engine."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image

from studio.animation.render import render_animation
from studio.blend.render import render_blend
from studio.errors import SpecError
from studio.events import CancelToken
from studio.pipeline.common import Clock
from studio.pipeline.conditioning import TextStates
from studio.pipeline.denoise import denoise
from studio.pipeline.edit import pix2pix_image, pix2pix_text
from studio.pipeline.models import LoadOptions
from studio.pipeline.text import encode_prompts
from studio.spec import (
    AnimationSpec,
    BlendKeyframe,
    BlendOutputSettings,
    BlendPromptSettings,
    BlendSettings,
    BlendSpec,
    DiffusionSettings,
    EditSettings,
)
from tests.support.edit_models import edit_model_folders

SIZE = 64


@pytest.fixture(scope="session")
def edit_models(tmp_path_factory) -> dict[int, str]:
    folders = edit_model_folders(tmp_path_factory.mktemp("edit-models"))
    return {channels: str(folder) for channels, folder in folders.items()}


@pytest.fixture
def inpaint_model(edit_models) -> str:
    return edit_models[9]


@pytest.fixture
def pix2pix_model(edit_models) -> str:
    return edit_models[8]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """An input picture (two colours) and a mask whose white square is to be repainted."""
    folder = tmp_path_factory.mktemp("pictures")
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[:, : SIZE // 2] = (200, 40, 40)
    image[:, SIZE // 2 :] = (30, 60, 220)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[16:48, 16:48] = 255
    Image.fromarray(image).save(folder / "input.png")
    Image.fromarray(mask).save(folder / "mask.png")
    return folder / "input.png", folder / "mask.png", image, mask > 0


def animation(model: str, image: str = "", **edit) -> AnimationSpec:
    spec = AnimationSpec()
    return spec.replace(
        prompts=spec.prompts.replace(schedule="0: a red circle\n1: a blue square"),
        diffusion=spec.diffusion.replace(
            model=model, width=SIZE, height=SIZE, steps=2, guidance=5.0, seed=3, device="cpu"
        ),
        output=spec.output.replace(format="png"),
        input=spec.input.replace(image=image),
        motion=spec.motion.replace(strength="0: (1.0)"),
        edit=EditSettings(**edit),
    )


def frames_of(result) -> list[np.ndarray]:
    return [np.asarray(Image.open(p)) for p in sorted(result.outputs[0].path.glob("*.png"))]


def test_inpainting_repaints_the_mask_and_keeps_the_rest(
    tmp_path, manager, inpaint_model, pictures
):
    image_path, mask_path, image, repaint = pictures
    spec = animation(inpaint_model, str(image_path), mask=str(mask_path))
    result = render_animation(spec, tmp_path, manager=manager)
    frames = frames_of(result)
    assert len(frames) == 2 and result.denoise_steps == 2 * 2
    for frame in frames:
        change = np.abs(frame.astype(int) - image.astype(int))
        assert change[~repaint].max() == 0  # the kept region is the input's own pixels
        assert change[repaint].mean() > 20  # the masked square was drawn anew


def test_a_text_only_inpainting_animation_draws_whole_frames(tmp_path, manager, inpaint_model):
    result = render_animation(animation(inpaint_model), tmp_path, manager=manager)
    frames = frames_of(result)
    assert len(frames) == 2 and frames[0].shape == (SIZE, SIZE, 3)
    assert frames[0].std() > 5  # drawn, not a blank frame


def test_a_mask_on_a_plain_model_is_refused(tmp_path, manager, pictures):
    image_path, mask_path, _, _ = pictures
    spec = animation("builtin:tiny", str(image_path), mask=str(mask_path))
    with pytest.raises(SpecError, match="a mask is for inpainting models"):
        render_animation(spec, tmp_path, manager=manager)


def test_a_blend_with_an_inpainting_model_keeps_the_reference(
    tmp_path, manager, inpaint_model, pictures
):
    image_path, mask_path, image, repaint = pictures
    prompts = ("a red circle", "a blue square")
    spec = BlendSpec(
        prompts=BlendPromptSettings(keyframes=tuple(BlendKeyframe(p) for p in prompts)),
        diffusion=DiffusionSettings(
            model=inpaint_model, steps=2, guidance=4.0, width=SIZE, height=SIZE, seed=7
        ),
        blend=BlendSettings(
            setup="auto",
            diffusion_frames=3,
            inpaint_mask=str(mask_path),
            inpaint_image=str(image_path),
        ),
        output=BlendOutputSettings(fps=8, format="png"),
    )
    result = render_blend(spec, tmp_path, manager=manager)
    frames = frames_of(result)
    assert len(frames) == 3
    for frame in frames:
        change = np.abs(frame.astype(int) - image.astype(int))
        assert change[~repaint].max() <= 1 and change[repaint].mean() > 20
    assert not np.array_equal(frames[0], frames[-1])


@pytest.mark.slow  # beyond the default tier's budget on a 2-core machine
def test_an_inpainting_blend_without_an_image_holds_the_first_keyframe(
    tmp_path, manager, inpaint_model, pictures
):
    """The first keyframe is drawn whole (no reference yet), then is the reference the
    other frames keep outside the mask."""
    _, mask_path, _, repaint = pictures
    spec = BlendSpec(
        prompts=BlendPromptSettings(
            keyframes=(BlendKeyframe("a red circle"), BlendKeyframe("sky"))
        ),
        diffusion=DiffusionSettings(
            model=inpaint_model, steps=2, guidance=1.0, width=SIZE, height=SIZE, seed=7
        ),
        blend=BlendSettings(setup="auto", diffusion_frames=3, inpaint_mask=str(mask_path)),
        output=BlendOutputSettings(fps=8, format="png"),
    )
    first, _, last = frames_of(render_blend(spec, tmp_path, manager=manager))
    change = np.abs(last.astype(int) - first.astype(int))
    assert change[~repaint].max() <= 1 and change[repaint].mean() > 5


def test_instruct_pix2pix_edits_the_input_with_an_image_guidance_curve(
    tmp_path, manager, pix2pix_model, pictures
):
    image_path = str(pictures[0])
    made = {}
    for curve in ("1.0", "3.0"):
        spec = animation(pix2pix_model, image_path, image_guidance=curve)
        made[curve] = frames_of(render_animation(spec, tmp_path / curve, manager=manager))
    assert len(made["1.0"]) == 2
    for low, high in zip(made["1.0"], made["3.0"], strict=True):
        assert not np.array_equal(low, high)


def test_a_text_only_instruct_pix2pix_animation_is_refused(tmp_path, manager, pix2pix_model):
    with pytest.raises(SpecError, match="InstructPix2Pix.*text-only animation has none"):
        render_animation(animation(pix2pix_model), tmp_path, manager=manager)


def test_three_way_guidance_is_the_hand_computed_step(manager, pix2pix_model, pictures):
    """One step of the loop equals three UNet calls combined by hand, as diffusers'
    InstructPix2Pix pipeline combines them, with two frames at two image guidance scales."""
    pipe = manager.load(pix2pix_model, LoadOptions(device="cpu")).pipe
    texts = encode_prompts(pipe, ("make it blue", ""), torch.device("cpu"))
    cond = torch.cat([texts["make it blue"].states] * 2)  # two frames
    uncond = torch.cat([texts[""].states] * 2)
    picture = torch.from_numpy(pictures[2]).permute(2, 0, 1).float()[None] / 255
    pictures2 = torch.cat([picture, picture.flip(-1)])
    latents = pix2pix_image(pipe, pictures2, guided=False)  # (2, 4, 8, 8), unscaled
    x = torch.randn((2, 4, 8, 8), generator=torch.Generator().manual_seed(0))
    scale = torch.tensor([1.5, 3.0]).view(-1, 1, 1, 1)
    steps, guidance = 4, 6.0
    done = denoise(
        pipe.unet,
        pipe.scheduler,
        steps,
        x,
        pix2pix_text(TextStates(cond), TextStates(uncond)),
        guidance,
        cancel=CancelToken(),
        clock=Clock(),
        image=pix2pix_image(pipe, pictures2, guided=True),
        image_guidance=scale,
        keep={1},
    )

    scheduler = copy.deepcopy(pipe.scheduler)
    scheduler.set_timesteps(steps)
    t = scheduler.timesteps[0]
    x0 = x * scheduler.init_noise_sigma
    model_in = scheduler.scale_model_input(x0, t)
    with torch.no_grad():

        def eps(states, image):
            unet_in = torch.cat([model_in, image], dim=1)
            return pipe.unet(unet_in, t, encoder_hidden_states=states).sample

        text = eps(cond, latents)
        image_only = eps(uncond, latents)
        neither = eps(uncond, torch.zeros_like(latents))
    noise = neither + guidance * (text - image_only) + scale * (image_only - neither)
    expected = scheduler.step(noise, t, x0).prev_sample
    torch.testing.assert_close(done.trajectory[1], expected, atol=1e-5, rtol=1e-4)


@pytest.mark.slow  # beyond the default tier's budget on a 2-core machine
def test_one_frame_matches_diffusers_instruct_pix2pix_pipeline(manager, pix2pix_model, pictures):
    """The studio's loop on a picture gives the latents diffusers' own InstructPix2Pix
    pipeline gives from the same weights, noise, text states and scales (a wrong image
    guidance scale or row order is off by ~0.5; float rounding by ~1e-4)."""
    from diffusers import StableDiffusionInstructPix2PixPipeline

    pipe = manager.load(pix2pix_model, LoadOptions(device="cpu")).pipe
    texts = encode_prompts(pipe, ("make it blue", ""), torch.device("cpu"))
    picture = torch.from_numpy(pictures[2].copy()).permute(2, 0, 1).float()[None] / 255
    x = torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(0))
    ours = denoise(
        pipe.unet,
        pipe.scheduler,
        3,
        x,
        pix2pix_text(texts["make it blue"], texts[""]),
        5.0,
        cancel=CancelToken(),
        clock=Clock(),
        image=pix2pix_image(pipe, picture, guided=True),
        image_guidance=1.5,
    ).latents
    reference = StableDiffusionInstructPix2PixPipeline(**pipe.components)
    reference.set_progress_bar_config(disable=True)
    theirs = reference(
        prompt_embeds=texts["make it blue"].states,
        negative_prompt_embeds=texts[""].states,
        image=Image.fromarray(pictures[2]),
        num_inference_steps=3,
        guidance_scale=5.0,
        image_guidance_scale=1.5,
        latents=x.clone(),
        output_type="latent",
    ).images
    torch.testing.assert_close(ours, theirs, atol=2e-3, rtol=0)


@pytest.mark.slow  # beyond the default tier's budget on a 2-core machine
def test_a_mask_video_gives_each_frame_its_own_mask(tmp_path, manager, inpaint_model, pictures):
    import imageio_ffmpeg

    image_path, _, image, _ = pictures
    halves = [np.zeros((SIZE, SIZE, 3), np.uint8) for _ in range(2)]
    halves[0][:, : SIZE // 2] = 255  # frame 0 repaints the left half, frame 1 the right
    halves[1][:, SIZE // 2 :] = 255
    path = tmp_path / "masks.mp4"
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (SIZE, SIZE),
        fps=12,  # the animation's fps: one mask per frame
        macro_block_size=1,
        quality=None,
        output_params=["-crf", "0", "-pix_fmt", "yuv444p"],
        pix_fmt_out="yuv444p",
        ffmpeg_log_level="error",
    )
    writer.send(None)
    for frame in halves:
        writer.send(frame)
    writer.close()
    spec = animation(inpaint_model, str(image_path), mask=str(path))
    frames = frames_of(render_animation(spec, tmp_path / "out", manager=manager))
    for frame, mask in zip(frames, halves, strict=True):
        repaint = mask[..., 0] > 127
        change = np.abs(frame.astype(int) - image.astype(int))
        assert change[~repaint].max() == 0 and change[repaint].mean() > 20
