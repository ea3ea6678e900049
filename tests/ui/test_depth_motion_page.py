"""Prompt Schedule's 3D motion block through AppTest: the generated fields, a clear refusal
without a depth source, and a render through a depth image given by its path (real engine)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from db import Store, list_runs
from tests.support.dashboard import render

KEYS = (
    "ps.translation_z",
    "ps.rotation_3d_x",
    "ps.rotation_3d_y",
    "ps.rotation_3d_z",
    "ps.fov",
    "ps.depth_model",
    "ps.depth_input",
)


def test_3d_motion_is_refused_without_a_depth_source_then_renders_with_one(
    app, studio_home, tmp_path
):
    for key in KEYS:
        assert app.text_input(key=key).value == ""
    assert app.number_input(key="ps.depth_near").value == 200.0
    app.text_area(key="ps.schedule").set_value("0: a red circle\n1: a blue square")
    app.text_input(key="ps.translation_z").set_value("0: (30)")
    app.run()
    assert not app.exception, app.exception
    assert any("needs a depth source: give --depth-model" in e.value for e in app.error)
    assert app.button(key="ps.render").disabled

    nearness = np.full((16, 16), 255, np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(nearness).save(buffer, format="PNG")
    (tmp_path / "depth.png").write_bytes(buffer.getvalue())
    app.text_input(key="ps.depth_input").set_value(str(tmp_path / "depth.png"))
    job = render(app, "0: a red circle\n1: a blue square")
    assert job.status == "done", job.error
    with Store.open(studio_home).session() as s:
        (run,) = list_runs(s)
        assert run.frames_done == 2
        assert run.spec["motion"]["translation_z"] == "0: (30)"
        assert run.spec["motion"]["depth_input"] == str(tmp_path / "depth.png")
