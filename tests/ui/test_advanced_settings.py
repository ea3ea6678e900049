"""The Advanced settings expander: memory savers and what auto picks here, scheduler options
checked before a render, and a custom pipeline that warns and needs its trust box."""

from __future__ import annotations

from db import Store, list_runs
from tests.support.dashboard import render


def _errors(app):
    return [e.value for e in app.error]


def test_memory_auto_says_what_it_picks_on_this_device(app):
    assert app.selectbox(key="ps.memory").options == ["none", "auto"]
    assert any(c.value.startswith("auto on cpu: nothing") for c in app.caption)


def test_an_unknown_scheduler_option_is_an_error_before_any_render(app):
    app.selectbox(key="ps.scheduler").set_value("dpm++")
    app.text_area(key="ps.scheduler_options").set_value("use_karras_sigma=true").run()
    assert not app.exception, app.exception
    (error,) = _errors(app)
    assert "'use_karras_sigma'" in error and "use_karras_sigmas" in error
    assert app.button(key="ps.render").disabled


def test_scheduler_options_and_memory_go_into_the_run(app, studio_home):
    app.selectbox(key="sidebar.model").set_value("builtin:tiny").run()
    app.selectbox(key="ps.scheduler").set_value("dpm++")
    app.text_area(key="ps.scheduler_options").set_value("use_karras_sigmas=true\n")
    app.selectbox(key="ps.memory").set_value("auto")
    app.checkbox(key="ps.vae_slicing").check().run()
    job = render(app, "0: a red circle")
    assert job.status == "done", job.error
    with Store.open(studio_home).session() as s:
        (run,) = list_runs(s)
        d, memory = run.spec["diffusion"], run.plan["memory"]
    assert d["scheduler_kwargs"] == {"use_karras_sigmas": True} and d["memory"] == "auto"
    assert memory["mode"] == "auto" and memory["vae_slicing"] and not memory["cpu_offload"]
    shown = [c.value for c in app.caption if c.value.startswith("Last render here used")]
    assert shown and "vae slicing (memory auto)" in shown[0] and "from the model:" in shown[0]


def test_a_custom_pipeline_warns_and_renders_only_once_trusted(app, tmp_path):
    source = str(tmp_path / "pipeline.py")
    app.text_input(key="ps.custom_pipeline").set_value(source).run()
    assert not app.exception, app.exception
    assert any(source in w.value and "runs the Python code" in w.value for w in app.warning)
    assert any("I trust this code" in e for e in _errors(app))
    assert app.button(key="ps.render").disabled
    app.checkbox(key="ps.trust_custom").check().run()
    assert _errors(app) == [] and not app.button(key="ps.render").disabled
    # Another source needs its own tick.
    app.text_input(key="ps.custom_pipeline").set_value(str(tmp_path)).run()
    assert app.checkbox(key="ps.trust_custom").value is False
    assert any("I trust this code" in e for e in _errors(app))
