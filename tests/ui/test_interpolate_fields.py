"""The interpolation output option on the Prompt Schedule and Blend pages (issue 29, item 9):
widgets generated from the one description, feeding the spec and its check; the learned
method's weights field."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def test_prompt_schedule_and_blend_pages_offer_the_interpolation_output(app: AppTest):
    app.switch_page("pages/prompt_schedule.py").run()
    assert not app.exception, app.exception
    method = app.selectbox(key="ps.interpolate_method")
    assert method.options == ["flow", "crossfade", "learned"] and method.value == "flow"
    # The learned method's weights: a field of its own; without it the method is refused.
    assert app.text_input(key="ps.interpolator").value == ""
    method.set_value("learned").run()
    assert "'learned' needs its weights: give --interpolator PATH" in " ".join(_errors(app))
    app.text_input(key="ps.interpolator").set_value("/weights/flownet.pkl").run()
    assert not _errors(app) and not app.exception
    app.button(key="ps.render").click().run()  # the file is read before a run is recorded
    assert "interpolator weights /weights/flownet.pkl not found" in " ".join(_errors(app))
    assert "ps.job" not in app.session_state and not app.exception
    app.selectbox(key="ps.interpolate_method").set_value("flow")
    app.text_input(key="ps.interpolator").set_value("").run()
    app.number_input(key="ps.interpolate_fps").set_value(6).run()
    assert "interpolate to 6 fps must be more than the render's 12 fps" in " ".join(_errors(app))
    app.number_input(key="ps.interpolate_fps").set_value(30).run()
    assert not _errors(app) and not app.exception
    # The default schedule: 25 frames at 12 fps, written as 62.5 -> 63 frames at 30 fps.
    captions = " ".join(c.value for c in app.caption)
    assert "The file: 63 frames at 30 fps" in captions and "made by flow" in captions

    app.switch_page("pages/blend.py").run()
    assert not app.exception, app.exception
    assert "flow" in app.selectbox(key="blend.fill").options
    assert app.text_input(key="blend.interpolator").value == ""
    app.selectbox(key="blend.fill").set_value("flow")
    app.number_input(key="blend.interpolate_fps").set_value(60).run()
    assert not _errors(app) and not app.exception
    assert "fps, the frames between" in " ".join(c.value for c in app.caption)
    app.selectbox(key="blend.format").set_value("gif").run()
    assert "GIF output plays at most 50 fps, got interpolate to 60" in " ".join(_errors(app))
