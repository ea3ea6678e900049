"""Prompt Schedule's options for models that edit a picture (ui.edit_panel): an inpainting
model's mask upload and an InstructPix2Pix model's image guidance curve, drawn only when the
sidebar's model is of that family (config-only folders: the page reads the family, no
weight)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tests.support.families import model_folder

OTHER = "Other: folder, file or Hub id"


def choose(app, folder) -> None:
    app.selectbox(key="sidebar.model").set_value(OTHER).run()
    app.text_input(key="sidebar.model_other").set_value(str(folder)).run()
    assert not app.exception, app.exception


def png(mask: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(mask).save(out, format="PNG")
    return out.getvalue()


def test_a_plain_model_shows_neither_option(app):
    assert not [u for u in app.get("file_uploader") if u.proto.label == "Mask"]
    assert "ps.image_guidance" not in [t.key for t in app.text_input]


def test_an_inpainting_model_takes_a_mask_upload(app, studio_home, tmp_path):
    choose(app, model_folder(tmp_path, "inpaint"))
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 255
    app.file_uploader(key="ps.mask_upload").upload("my mask.png", png(mask), "image/png").run()
    assert not app.exception, app.exception
    stored = app.session_state["ps.mask"]
    assert stored.startswith("inputs/") and stored.endswith("my_mask.png")
    assert (studio_home / stored).is_file()
    # No input yet: the page says the mask needs one, and the spec check agrees.
    assert any("needs an image or video input" in w.value for w in app.warning)
    assert any("a mask marks what to repaint" in e.value for e in app.error)


def test_an_instruct_pix2pix_model_takes_an_image_guidance_curve(app, tmp_path):
    choose(app, model_folder(tmp_path, "pix2pix"))
    assert any("edits an input picture" in i.value for i in app.info)
    curve = app.text_input(key="ps.image_guidance")
    assert curve.value == "0: (1.5)"
    curve.set_value("0: (1.0), 4: (3.0)").run()
    assert not app.error, [e.value for e in app.error]
    assert app.session_state["ps.image_guidance"] == "0: (1.0), 4: (3.0)"
    app.text_input(key="ps.image_guidance").set_value("0: (1.0").run()
    assert any("image guidance" in e.value for e in app.error)
