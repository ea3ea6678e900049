"""Video/image input, motion options and "Send to input" through AppTest (real engine)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from db import Store
from db.repository import get_session
from tests.support.dashboard import APP, TIMEOUT, render
from tests.support.media import make_video


@pytest.fixture
def app(studio_home):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def input_page(at):
    at.switch_page("pages/audio_video.py").run()
    assert not at.exception, at.exception
    return at


def test_a_video_upload_sets_fps_and_size_and_says_it_was_rounded(app, studio_home, tmp_path):
    data = make_video(tmp_path / "clip.mp4", 10, 10, width=60, height=44).read_bytes()
    app.text_area(key="ps.schedule").set_value("0: a red circle\n5: a blue square").run()
    at = input_page(app)
    at.file_uploader(key="av.input_upload").upload("my clip.mp4", data, "video/mp4").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    stored = at.session_state["av.video"]
    assert stored.startswith("inputs/default/") and stored.endswith("-my_clip.mp4")
    assert (at.session_state["ps.fps"], at.session_state["ps.width"]) == (10, 64)
    assert at.session_state["ps.height"] == 48
    assert any("rendered at 64×48" in w.value for w in at.warning)
    assert any("10 frames" in m.value and "10 fps" in m.value for m in at.markdown)
    with Store.open(studio_home).session() as s:
        (media,) = get_session(s, "default").inputs
        assert (media.kind, media.path) == ("video", stored)

    at.switch_page("pages/prompt_schedule.py").run()
    assert not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Frames"] == "10"  # the video sets the length
    assert metrics["Denoise steps"] == str(10 * 12)  # strength 0.6 of 20 steps


def test_a_broken_video_upload_is_an_error_and_nothing_is_kept(app, studio_home):
    at = input_page(app)
    at.file_uploader(key="av.input_upload").upload("notes.mp4", b"not a video\n" * 50, "video/mp4")
    at.run()
    assert not at.exception, at.exception
    assert any("notes.mp4" in e.value and "not a video" in e.value for e in at.error)
    assert all(e.value.count("notes.mp4") == 1 and ".part-" not in e.value for e in at.error)
    assert at.session_state["av.video"] == ""
    assert not (studio_home / "inputs").exists() or not any((studio_home / "inputs").rglob("*.*"))


def test_motion_options_go_into_the_spec_and_the_plan(app):
    app.text_area(key="ps.schedule").set_value("0: a red circle\n4: a blue square")
    app.text_input(key="ps.zoom").set_value("0: (1.05)")
    app.selectbox(key="ps.color_match").set_value("first")
    app.run()
    assert not app.error, [e.value for e in app.error]
    metrics = {m.label: m.value for m in app.metric}
    # frame 0 from noise (20 steps), then 4 feedback frames at strength 0.6 (12 steps each)
    assert metrics["Frames"] == "5" and metrics["Denoise steps"] == str(20 + 4 * 12)
    app.selectbox(key="ps.color_match").set_value("input").run()
    assert any("needs an image or video input" in e.value for e in app.error)


def test_gallery_sends_a_frame_to_the_image_input(app, studio_home):
    job = render(app, "0: a red circle\n2: a blue square")
    assert job.status == "done", job.error
    app.switch_page("pages/gallery.py").run()
    assert not app.exception, app.exception
    (frame,) = [n for n in app.number_input if n.key.endswith(".frame")]
    frame.set_value(2).run()
    (send,) = [b for b in app.button if b.key.endswith(".image")]
    send.click().run()
    assert not app.exception, app.exception
    assert any("Frame 2 is the image input" in s.value for s in app.success)
    stored = app.session_state["av.image"]
    assert stored.startswith("inputs/default/") and stored.endswith("-frame2.png")
    assert (studio_home / stored).is_file()
    with Store.open(studio_home).session() as s:
        kinds = [m.kind for m in get_session(s, "default").inputs]
    assert kinds == ["image"]
    at = input_page(app)
    assert any("image, resized to the output size" in m.value for m in at.markdown)
