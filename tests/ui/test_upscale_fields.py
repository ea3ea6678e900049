"""Prompt Schedule's Upscaling expander: the upscale group's fields, drawn from their
descriptions, in the plan's steps and the spec, and an upscale model that is no upscaler
refused on the page (issue 29, item 4)."""

from __future__ import annotations

from tests.support.families import model_folder


def _metrics(app) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_the_upscaler_fields_go_into_the_plan(app, tmp_path):
    assert app.text_input(key="ps.upscale_model").value == ""
    assert app.selectbox(key="ps.upscale_scheduler").value == "ddim"
    frames, steps = 25, int(app.number_input(key="ps.steps").value)
    assert _metrics(app)["Denoise steps"] == str(frames * steps)
    upscaler = str(model_folder(tmp_path, "upscale-x4", name="my-upscaler"))
    app.text_input(key="ps.upscale_model").set_value(upscaler)
    app.number_input(key="ps.upscale_steps").set_value(5).run()
    assert not app.exception, app.exception
    assert [e.value for e in app.error] == []
    assert _metrics(app)["Denoise steps"] == str(frames * steps + frames * 5)
    assert not app.button(key="ps.render").disabled


def test_a_drawing_model_as_the_upscaler_is_an_error_before_any_render(app):
    app.text_input(key="ps.upscale_model").set_value("builtin:tiny").run()
    assert not app.exception, app.exception
    (error,) = [e.value for e in app.error]
    assert "builtin:tiny" in error and "does not enlarge" in error
    assert app.button(key="ps.render").disabled
