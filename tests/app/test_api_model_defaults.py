"""The Python API gives a spec's unset diffusion fields the model's own values, keeps the set
ones, and records which came from the model."""

from __future__ import annotations

import studio
from db import Store, list_runs
from studio.pipeline.builtin import builtin_folder, model_defaults
from studio.spec import AnimationSpec, PromptSettings


def test_render_takes_the_folders_size_and_guidance_for_what_the_spec_leaves_unset(
    studio_home, manager
):
    folder = str(builtin_folder("tiny", manager.cache_dir))
    brought = model_defaults(folder)
    assert brought["width"] != AnimationSpec().diffusion.width  # else the test proves nothing
    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle"),
        diffusion={"model": folder, "steps": 2, "guidance": 2.0},
    )
    run_id, result = studio.render(spec, manager=manager)
    assert result.frames >= 1
    with Store.open(studio_home).session() as s:
        (run,) = list_runs(s)
        stored, plan = run.spec, run.plan
    d = stored["diffusion"]
    assert (d["width"], d["height"]) == (brought["width"], brought["height"])
    assert (d["steps"], d["guidance"]) == (2, 2.0)  # explicit values stay
    assert d["guidance_stop"] == brought["guidance_stop"]
    assert plan["model_defaults"] == {
        "width": brought["width"],
        "height": brought["height"],
        "guidance_stop": brought["guidance_stop"],
    }


def test_a_spec_that_sets_everything_records_nothing_from_the_model(studio_home, manager):
    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle"),
        diffusion={
            "model": "builtin:tiny",
            "steps": 2,
            "width": 64,
            "height": 64,
            "guidance": 3.0,
            "guidance_stop": 0.2,
        },
    )
    studio.render(spec, manager=manager)
    with Store.open(studio_home).session() as s:
        (run,) = list_runs(s)
        assert run.plan["model_defaults"] == {}
        assert run.spec["diffusion"]["guidance"] == 3.0
