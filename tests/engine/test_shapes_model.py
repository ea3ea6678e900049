"""builtin:shapes, the shipped trained model, through the real engine and the pixel classifier."""

from __future__ import annotations

import numpy as np
import pytest

from studio.animation.render import render_animation
from studio.media.readers import read_frames
from studio.pipeline.builtin import BUILTIN_MODELS, recommended_guidance
from studio.spec import (
    DEFAULT_MODEL,
    AnimationSettings,
    AnimationSpec,
    DiffusionSettings,
    OutputSettings,
    PromptSettings,
)
from training.shapes.classifier import classify, hue_of, hue_walk

GUIDANCE = recommended_guidance("builtin:shapes")


def shapes_spec(
    schedule: str, *, steps: int = 20, guidance: float = GUIDANCE, scheduler="ddim", batch=5
):
    return AnimationSpec(
        prompts=PromptSettings(schedule=schedule),
        diffusion=DiffusionSettings(
            model="builtin:shapes",
            scheduler=scheduler,
            steps=steps,
            guidance=guidance,
            width=128,
            height=128,
            seed=3,
        ),
        animation=AnimationSettings(fps=12, batch_size=batch),
        output=OutputSettings(format="png"),
    )


def render_frames(spec, tmp_path, manager) -> list[np.ndarray]:
    result = render_animation(spec, tmp_path, manager=manager)
    return list(read_frames(result.outputs[0].path))


def test_shapes_is_the_default_model_and_ships_in_the_package():
    assert DEFAULT_MODEL == "builtin:shapes"
    folder = BUILTIN_MODELS["shapes"].shipped
    assert (folder / "model_index.json").exists()
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size < 25e6, f"the shipped model is {size / 1e6:.1f} MB"


def test_it_draws_the_issue_example(tmp_path, manager):
    (frame,) = render_frames(
        shapes_spec("0: a large red circle on a black background"), tmp_path, manager
    )
    reading = classify(frame)
    assert (reading.colour, reading.shape, reading.background, reading.size) == (
        "red",
        "circle",
        "black",
        "large",
    ), reading


@pytest.mark.slow  # a 25-frame walk on the shipped model
def test_a_transition_moves_hue_steadily_from_red_to_blue(tmp_path, manager):
    frames = render_frames(
        shapes_spec("0: a red circle\n24: a blue circle", steps=12), tmp_path, manager
    )
    assert len(frames) == 25
    first, last = classify(frames[0]), classify(frames[-1])
    assert first.colour == "red" and last.colour == "blue", (first, last)
    hues = np.array([hue_of(f) for f in frames])  # red ~ -3 degrees, blue ~ -141
    assert hues[0] > -40 and hues[-1] < -110, hues.round(1)
    # Steadily: mostly in one direction, and no single frame jumps half the way or more.
    walk = hue_walk(hues)
    assert walk["steady"], (walk, hues.round(1))


@pytest.mark.parametrize(
    "scheduler, steps, guidance",
    [
        ("ddim", 4, 4.0),
        pytest.param("ddim", 50, 8.0, marks=pytest.mark.slow),  # 50 steps: the slow tier
        ("euler", 20, 1.0),
        ("dpm++", 20, 4.0),
    ],
)
def test_it_works_across_schedulers_steps_and_guidance(
    tmp_path, manager, scheduler, steps, guidance
):
    frames = render_frames(
        shapes_spec(
            "0: a large yellow square on a black background\n"
            "1: a large green triangle on a white background",
            steps=steps,
            guidance=guidance,
            scheduler=scheduler,
            batch=2,
        ),
        tmp_path,
        manager,
    )
    readings = [classify(f) for f in frames]
    assert [r.background for r in readings] == ["black", "white"], readings
    assert [r.colour for r in readings] == ["yellow", "green"], readings


def test_img2img_follows_the_prompt_from_a_drawing(manager):
    import torch
    from diffusers import StableDiffusionImg2ImgPipeline

    from studio.pipeline.schedulers import make_scheduler
    from training.shapes.dataset import Scene, draw

    pipe = manager.load("builtin:shapes").pipe
    img2img = StableDiffusionImg2ImgPipeline(
        **{**pipe.components, "scheduler": make_scheduler(pipe, "ddim")}
    )
    img2img.set_progress_bar_config(disable=True)
    init = draw(Scene("red", "square", "black", "large", "centre")).astype(np.float32) / 255
    kept = img2img(
        "a large red square on a black background",
        image=init[None],
        strength=0.3,
        num_inference_steps=20,
        guidance_scale=GUIDANCE,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
    ).images[0]
    changed = img2img(
        "a large blue square on a black background",
        image=init[None],
        strength=0.8,
        num_inference_steps=20,
        guidance_scale=GUIDANCE,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
    ).images[0]
    assert classify((kept * 255).round().astype(np.uint8)).colour == "red"
    assert classify((changed * 255).round().astype(np.uint8)).colour == "blue"
