"""Prompt Schedule's ControlNet panel through AppTest: add, upload, preview, render, restore."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from db import Store, list_runs
from tests.support.dashboard import TIMEOUT
from tests.support.media import make_video


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def square() -> np.ndarray:
    image = np.zeros((64, 64, 3), np.uint8)
    image[16:48, 16:48] = 255
    return image


@pytest.fixture
def panel(app):
    """Prompt Schedule on builtin:tiny at 32 px, with one ControlNet added."""
    app.selectbox(key="sidebar.model").set_value("builtin:tiny").run()
    app.number_input(key="ps.width").set_value(32)
    app.number_input(key="ps.height").set_value(32)
    app.text_area(key="ps.schedule").set_value("0: a red circle\n1: a blue square")
    app.number_input(key="ps.steps").set_value(2).run()
    app.button(key="ps.cn_add").click().run()
    assert not app.exception, app.exception
    return app


def test_an_added_controlnet_needs_a_model_and_a_source(panel):
    assert any("ControlNet 1 has no model" in e.value for e in panel.error)
    assert panel.button(key="ps.render").disabled


def test_upload_preview_render_and_restore(panel, studio_home, tiny_controlnet):
    at = panel
    at.text_input(key="ps.cn0.model").set_value(str(tiny_controlnet))
    at.selectbox(key="ps.cn0.preprocess").set_value("canny")
    at.text_input(key="ps.cn0.scale").set_value("0: (0), 1: (1)").run()
    at.file_uploader(key="ps.cn0.upload").upload("drawing.png", png(square()), "image/png").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    (net,) = at.session_state["ps.controlnets"]
    assert net["image"].startswith("inputs/default/") and net["image"].endswith("drawing.png")
    assert (net["preprocess"], net["scale"]) == ("canny", "0: (0), 1: (1)")
    images = [e for e in at.main if type(e).__name__ == "Image"]
    assert any("First control frame" in str(i.proto) for i in images)
    assert at.number_input(key="ps.cn0.low_threshold").value == pytest.approx(0.1)

    from ui.resources import get_jobs

    at.button(key="ps.render").click().run()
    assert not at.exception, at.exception
    job = get_jobs().get(at.session_state["ps.job"])
    assert job.wait(TIMEOUT), "render did not finish"
    assert job.error is None, job.error
    with Store.open(studio_home).session() as s:
        (run,) = list_runs(s)
        (stored,) = run.spec["control"]["nets"]
    assert stored["model"] == str(tiny_controlnet) and stored["image"] == net["image"]

    # Removing it empties the panel; History's "Restore settings" brings it back.
    at.button(key="ps.cn0.remove").click().run()
    assert at.session_state["ps.controlnets"] == []
    at.switch_page("pages/history.py").run()
    at.button(key="history.restore").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Prompt Schedule"
    assert at.text_input(key="ps.cn0.model").value == str(tiny_controlnet)
    assert at.selectbox(key="ps.cn0.preprocess").value == "canny"
    assert at.session_state["ps.controlnets"][0]["image"] == net["image"]


def test_a_short_control_video_is_refused_on_the_page(panel, tiny_controlnet, tmp_path):
    at = panel
    at.text_input(key="ps.cn0.model").set_value(str(tiny_controlnet)).run()
    video = make_video(tmp_path / "one.mp4", frames=1, fps=12).read_bytes()
    at.file_uploader(key="ps.cn0.upload").upload("one.mp4", video, "video/mp4").run()
    assert not at.exception, at.exception
    assert at.session_state["ps.controlnets"][0]["video"].endswith("one.mp4")
    at.button(key="ps.render").click().run()
    assert any("gives 1 frames at 12 fps, but the animation has 2" in e.value for e in at.error)


def test_the_panel_takes_the_same_files_as_the_input_section():
    from ui import control_panel, media_input

    assert control_panel.IMAGE_TYPES == media_input.IMAGE_TYPES
    assert control_panel.VIDEO_TYPES == media_input.VIDEO_TYPES
