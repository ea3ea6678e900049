"""The Python API records its renders like the CLI and the dashboard do."""

from __future__ import annotations

import pytest

import studio
from db import Store, list_runs
from studio.errors import ModelLoadError
from studio.spec import AnimationSpec, DiffusionSettings, PromptSettings


def tiny_spec(schedule="0: a red circle\n3: a blue square", model="builtin:tiny"):
    return AnimationSpec(
        prompts=PromptSettings(schedule=schedule),
        diffusion=DiffusionSettings(model=model, width=64, height=64, steps=2),
    )


def test_render_records_the_run(studio_home, manager):
    run_id, result = studio.render(tiny_spec(), session="API Tests", manager=manager)
    assert result.frames == 4
    with Store.open(studio_home).session() as s:
        (run,) = list_runs(s)
    assert run.id == run_id and run.status == "done" and run.session.slug == "api-tests"
    assert run.spec == tiny_spec().to_dict() and run.denoise_steps == 8
    assert run.outputs[0].path.startswith("outputs/api-tests/")


def test_a_failed_render_is_recorded_with_its_error(studio_home, manager):
    with pytest.raises(ModelLoadError):
        studio.render(tiny_spec(model="builtin:missing"), manager=manager)
    with Store.open(studio_home).session() as s:
        (run,) = list_runs(s)
    assert run.status == "failed" and "builtin:missing" in run.error
