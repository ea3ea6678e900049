"""Prompt Schedule's *Prompt ideas*: Suggest shows a proposal; only *Use* changes the schedule."""

from __future__ import annotations

from studio.languages.schedule import parse_schedule
from studio.pipeline.prompt_ideas import suggest_schedule
from studio.spec import DEFAULT_MODEL


def test_suggest_previews_and_use_fills_the_schedule_editor(app):
    mine = "0: a red circle\n4: a blue square"
    app.text_area(key="ps.schedule").set_value(mine)
    app.number_input(key="ps.ideas_keyframes").set_value(3)
    app.number_input(key="ps.ideas_spacing").set_value(5)
    app.number_input(key="ps.ideas_seed").set_value(7)
    app.run()
    app.button(key="ps.ideas_suggest").click().run()
    assert not app.exception
    expected = suggest_schedule(DEFAULT_MODEL, keyframes=3, frames_per_keyframe=5, seed=7)
    assert [c.value for c in app.code] == [expected.schedule.rstrip("\n")]
    assert app.text_area(key="ps.schedule").value == mine  # a preview changes nothing

    app.button(key="ps.ideas_use").click().run()
    assert not app.exception
    assert app.text_area(key="ps.schedule").value == expected.schedule
    assert [k.frame for k in parse_schedule(expected.schedule).keyframes] == [0, 5, 10]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Keyframes"] == "3" and metrics["Frames"] == "11"
    assert not app.code  # the proposal is used up


def test_a_model_without_words_and_no_text_model_is_a_message(app, tmp_path):
    app.text_input(key="ps.ideas_text_model").set_value(str(tmp_path / "no-such-model")).run()
    app.button(key="ps.ideas_suggest").click().run()
    assert not app.exception and not app.code
    assert any("no-such-model does not exist" in e.value for e in app.error)
