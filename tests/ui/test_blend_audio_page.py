"""The Blend page's soundtrack panel (ui.audio_panel.BLEND) through Streamlit's AppTest: a track
uploaded, the prompts' times typed, the plan's length and times, a bad time named, the track
removed (issue 29, item 3)."""

from __future__ import annotations

from tests.support.media import click_track


def test_blend_page_takes_a_track_and_times(app, studio_home, tmp_path):
    at = app
    at.switch_page("pages/blend.py").run()
    assert not at.exception, at.exception
    assert at.text_input(key="blend.audio_times").disabled  # no track yet
    beat = click_track(tmp_path / "beat.wav", {2.0: 0.8}, 4.0).read_bytes()
    at.file_uploader(key="blend.audio_upload").upload("beat.wav", beat, "audio/wav").run()
    assert not at.error, [e.value for e in at.error]
    stored = at.session_state["blend.audio_path"]
    assert stored.startswith("inputs/default/") and (studio_home / stored).is_file()
    # The page's two prompts: the second on the click (frame 24 at 12 fps).
    assert any("Prompts reached at 0, 2 s (the track's onsets)." in c.value for c in at.caption)

    at.text_input(key="blend.audio_times").set_value("0,1.5").run()  # the page's two prompts
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Video frames"] == "48"  # the track's 4 s at 12 fps
    assert any("Prompts reached at 0, 1.5 s (your times)." in c.value for c in at.caption)

    at.text_input(key="blend.audio_times").set_value("0,4.5").run()
    assert any("time 2 (4.5 s) is not within the track" in e.value for e in at.error)

    at.button(key="blend.audio_remove").click().run()
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["blend.audio_path"] == ""
    assert at.text_input(key="blend.audio_times").value == ""
    assert {m.label: m.value for m in at.metric}["Video frames"] != "48"
