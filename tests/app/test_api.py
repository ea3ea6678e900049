"""The Python API and the app layer under it: renders are checked, recorded, rendered and
delivered the same way from the API, the CLI and the dashboard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import studio
from db import Store, list_runs
from studio.errors import MediaError, ModelLoadError, SpecError
from studio.spec import (
    AnimationSpec,
    BlendKeyframe,
    BlendPromptSettings,
    BlendSpec,
    DiffusionSettings,
    InputSettings,
    PromptSettings,
)

ROOT = Path(__file__).resolve().parents[2]


def tiny_spec(schedule="0: a red circle\n3: a blue square", model="builtin:tiny"):
    return AnimationSpec(
        prompts=PromptSettings(schedule=schedule),
        diffusion=DiffusionSettings(model=model, width=64, height=64, steps=2),
    )


def test_render_records_the_run(studio_home, manager):
    from studio.app import runs

    run_id, result = studio.render(tiny_spec(), session="API Tests", manager=manager)
    assert result.frames == 4
    with Store.open(studio_home).session() as s:
        (run,) = list_runs(s)
    assert run.id == run_id and run.status == "done" and run.session.slug == "api-tests"
    # Stored as rendered: the guidance it leaves unset is the model's (studio.pipeline.defaults).
    assert run.spec == runs.with_model_defaults(tiny_spec()).to_dict() and run.denoise_steps == 8
    assert run.outputs[0].path.startswith("outputs/api-tests/")


def test_a_failed_render_is_recorded_with_its_error(studio_home, manager):
    with pytest.raises(ModelLoadError):
        studio.render(tiny_spec(model="builtin:missing"), manager=manager)
    with Store.open(studio_home).session() as s:
        (run,) = list_runs(s)
    assert run.status == "failed" and "builtin:missing" in run.error


def test_importing_studio_loads_neither_the_store_nor_the_engine():
    # A fresh interpreter: this test process has long imported everything.
    code = (
        "import sys, studio\n"
        "heavy = ('db', 'sqlalchemy', 'torch', 'diffusers', 'transformers', 'streamlit')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_render_and_resume_are_the_app_layers():
    from studio.app import runs

    assert studio.render is runs.render and studio.resume is runs.resume
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        studio.nope  # noqa: B018


def test_one_store_per_home_serves_every_render(studio_home, manager):
    from studio.app.store import close_stores, store_for

    first, _ = studio.render(tiny_spec(), manager=manager)
    second, _ = studio.render(tiny_spec(), session="other", manager=manager)
    store = store_for(studio_home)
    assert store_for() is store  # STUDIO_HOME is studio_home
    with store.session() as s:
        assert {r.id for r in list_runs(s)} == {first, second}
    close_stores()  # what the process does at exit; a later use opens the store again
    reopened = store_for(studio_home)
    assert reopened is not store
    with reopened.session() as s:
        assert len(list_runs(s)) == 2


def test_a_kind_without_an_engine_is_refused_before_recording(studio_home):
    from studio.app.registry import KINDS, kind_for

    assert set(KINDS) == {"animation", "blend"}
    assert kind_for("blend").spec_class is BlendSpec
    with pytest.raises(SpecError, match="no engine renders spec kind 'sculpture'"):
        kind_for("sculpture")

    class Sculpture(AnimationSpec):
        kind = "sculpture"

    with pytest.raises(SpecError, match="'sculpture'"):
        studio.render(Sculpture())
    assert not (studio_home / "studio.db").exists()


def test_a_missing_input_file_is_refused_before_recording(studio_home, tmp_path):
    spec = tiny_spec().replace(input=InputSettings(video=str(tmp_path / "gone.mp4")))
    with pytest.raises(MediaError, match="gone.mp4"):
        studio.render(spec)
    assert not (studio_home / "studio.db").exists()


def test_the_plan_of_each_kind(tmp_path):
    from studio.app.registry import kind_for

    plan = kind_for("animation").plan(tiny_spec())
    assert plan.frames == 4 and plan.predicted_denoise_steps == 8
    blend = BlendSpec(
        prompts=BlendPromptSettings(
            keyframes=(BlendKeyframe("a red circle"), BlendKeyframe("a blue square"))
        ),
        diffusion=DiffusionSettings(model="builtin:tiny", width=64, height=64, steps=4),
    )
    assert kind_for("blend").plan(blend).predicted_denoise_steps > 0


def test_submit_records_the_run_and_renders_it_as_a_job(studio_home, manager):
    from studio.app.jobs import JobRunner
    from studio.app.runs import submit

    jobs = JobRunner()
    try:
        job = submit(
            tiny_spec(),
            session_slug="jobs-",  # a valid slug that slugify would change: kept as it is
            jobs=jobs,
            manager=manager,
            meta_for=lambda spec: {"model": spec.diffusion.model},
        )
        with Store.open(studio_home).session() as s:
            (run,) = list_runs(s)  # recorded before the job runs
        assert job.meta == {
            "run_id": run.id,
            "kind": "animation",
            "resumed": False,
            "model": "builtin:tiny",
        }
        assert job.wait(300) and job.status == "done", job.error
        assert job.result.frames == 4
        with Store.open(studio_home).session() as s:
            (run,) = list_runs(s)
        assert run.status == "done" and run.session.slug == "jobs-"
    finally:
        jobs.shutdown()


def test_the_dashboard_renders_through_the_app_layer_not_the_cli():
    """ui/ and pages/ reach renders through ``studio.app.runs``; the engine knows no app."""
    import ast

    def imported(path: Path) -> set[str]:
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        return names

    dashboard = [*ROOT.glob("ui/*.py"), *ROOT.glob("pages/*.py")]
    assert any("studio.app.runs" in imported(p) for p in dashboard)
    for path in dashboard:
        assert not {n for n in imported(path) if n.startswith("studio.app.cli")}, path
    # studio/__init__.py (the API: render, resume) and __main__.py (the CLI) are entry points.
    engine = [
        p
        for p in ROOT.glob("studio/**/*.py")
        if p.relative_to(ROOT).parts[1] not in ("app", "__init__.py", "__main__.py")
    ]
    assert len(engine) > 20
    for path in engine:
        assert not {n for n in imported(path) if n.startswith(("studio.app", "db"))}, path
