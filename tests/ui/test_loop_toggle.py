"""The seamless-loop toggle on the Prompt Schedule and Blend pages (issue 29, item 1)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_the_loop_toggle_adds_the_closing_segment_to_the_plan(app):
    app.text_area(key="ps.schedule").set_value(
        "0: a red circle\n12: a blue square\n24: a green star"
    )
    app.run()
    assert metrics(app)["Frames"] == "25"
    assert not any("Looped" in c.value for c in app.caption)
    app.checkbox(key="ps.loop").check().run()
    assert not app.exception, app.exception
    assert metrics(app)["Frames"] == "36" and metrics(app)["Denoise steps"] == str(36 * 20)
    assert any(
        "the last 12 frames walk from the last keyframe back" in c.value for c in app.caption
    )
    # One keyframe cannot loop: the page says so instead of a plan.
    app.text_area(key="ps.schedule").set_value("0: a red circle").run()
    assert any("loop needs two or more keyframes" in e.value for e in app.error)
    assert not app.exception, app.exception


def test_the_blend_loop_toggle_adds_a_transition_back_to_the_first_prompt(app):
    app.switch_page("pages/blend.py").run()
    app.text_area(key="blend.prompts").set_value("a red circle\na blue square").run()
    before = int(metrics(app)["Video frames"])
    app.checkbox(key="blend.loop").check().run()
    assert not app.exception, app.exception
    # One more transition of the same tree; the first keyframe is not shown twice.
    assert int(metrics(app)["Video frames"]) == 2 * (before - 1)
