"""Picking a model in the sidebar moves the page's size, guidance and steps to the model's
own, keeps what the user typed, and the run records which values came from the model."""

from __future__ import annotations

from db import Store, list_runs
from studio.pipeline.builtin import model_defaults
from tests.support.dashboard import render

SHAPES, TINY = model_defaults("builtin:shapes"), model_defaults("builtin:tiny")


def _values(app, prefix="ps."):
    names = ("width", "height", "guidance", "guidance_stop", "steps")
    return {n: app.number_input(key=prefix + n).value for n in names}


def test_a_new_model_brings_its_defaults_but_typed_values_stay(app):
    assert SHAPES["width"] != TINY["width"] and SHAPES["guidance"] != TINY["guidance"]
    assert _values(app) == SHAPES
    app.selectbox(key="sidebar.model").set_value("builtin:tiny").run()
    assert not app.exception, app.exception
    assert _values(app) == TINY
    app.number_input(key="ps.width").set_value(96).run()
    app.selectbox(key="sidebar.model").set_value("builtin:shapes").run()
    assert _values(app) == {**SHAPES, "width": 96}


def test_the_blend_page_follows_the_model_too(app):
    app.switch_page("pages/blend.py").run()
    assert not app.exception, app.exception
    assert _values(app, "blend.")["width"] == SHAPES["width"]
    app.number_input(key="blend.guidance").set_value(5.0).run()
    app.selectbox(key="sidebar.model").set_value("builtin:tiny").run()
    assert _values(app, "blend.") == {**TINY, "guidance": 5.0}


def test_the_run_records_which_values_came_from_the_model(app, studio_home):
    app.selectbox(key="sidebar.model").set_value("builtin:tiny").run()
    app.number_input(key="ps.width").set_value(32).run()
    job = render(app, "0: a red circle")
    assert job.status == "done", job.error
    with Store.open(studio_home).session() as s:
        (run,) = list_runs(s)
        assert run.spec["diffusion"]["width"] == 32
        recorded = run.plan["model_defaults"]
    assert recorded == {
        "height": TINY["height"],
        "guidance": TINY["guidance"],
        "guidance_stop": 0.0,
    }
