"""Prompt Schedule's options for models that edit a picture: an inpainting model's mask
and an InstructPix2Pix model's image guidance curve.

They are drawn only when the sidebar's model is of that family (read from the folder's
configs by ``folder_family``, no weight loaded): the mask is an uploaded picture stored as
the session's input media (``ui.uploads.save_upload``), its path relative to STUDIO_HOME in
``ps.mask``; the curve is the spec's ``edit.image_guidance`` (``ps.image_guidance``).
"""

from __future__ import annotations

import streamlit as st

from studio.errors import StudioError
from studio.pipeline.families import folder_family
from studio.spec import AnimationSpec
from ui.fields import field_drawer
from ui.spec_form import FIELDS
from ui.state import get_value, set_value

__all__ = ["draw_edit_options", "model_family_name"]

MASK_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "mp4", "mov", "webm", "mkv", "avi", "gif"]


def model_family_name(model: str) -> str:
    """``inpaint``, ``pix2pix``, ... for a local diffusers folder; "" for anything else (or a
    folder whose configs cannot be read: loading it will say why)."""
    try:
        family = folder_family(model)
    except StudioError:
        return ""
    return "" if family is None else family.name.split("-")[0]


def draw_edit_options(model: str) -> None:
    """The *Inpainting* or *InstructPix2Pix* expander, for a model of that family."""
    family = model_family_name(model)
    has_input = bool(get_value("av.video", "") or get_value("av.image", ""))
    if family != "inpaint" and get_value("ps.mask", ""):
        set_value("ps.mask", "")  # a plain model would refuse it
        st.warning("The mask was for an inpainting model; it is cleared for this model.")
    if family == "inpaint":
        with st.expander("Inpainting", expanded=True):
            _draw_mask(has_input)
    elif family == "pix2pix":
        with st.expander("InstructPix2Pix", expanded=True):
            if not has_input:
                st.info(
                    "An InstructPix2Pix model edits an input picture: add an image or video "
                    "input on the Audio & Video page; the prompt says what to change."
                )
            field_drawer(AnimationSpec, FIELDS)(st, "ps.image_guidance", label="Image guidance")


def _draw_mask(has_input: bool) -> None:
    from studio.media.inputs import probe_image, probe_video, resolve_input_path
    from studio.pipeline.edit import is_video_mask

    st.caption(
        "White repaints, black keeps the input (image, or each video frame); a video mask "
        "gives each frame its own. Without a mask, or without an input, the whole frame is "
        "drawn from the prompt."
    )
    upload = st.file_uploader("Mask", type=MASK_TYPES, key="ps.mask_upload")
    if upload is not None and st.session_state.get("ps.mask_id") != upload.file_id:
        st.session_state["ps.mask_id"] = upload.file_id
        from ui.sidebar import current
        from ui.uploads import save_upload

        video = is_video_mask(upload.name)
        check = probe_video if video else probe_image
        try:
            kind = "video" if video else "image"
            set_value("ps.mask", save_upload(upload, current().session, kind, check=check))
        except StudioError as exc:
            st.error(str(exc))
    mask = get_value("ps.mask", "")
    if not mask:
        return
    if not has_input:
        st.warning("The mask needs an image or video input (Audio & Video page) to repaint.")
    c1, c2 = st.columns([4, 1])
    c1.caption(f"Mask: `{mask}`")
    c2.button("Remove mask", key="ps.remove_mask", on_click=lambda: set_value("ps.mask", ""))
    try:
        path = str(resolve_input_path(mask))
        if is_video_mask(mask):
            st.video(path, width=128)
        else:
            st.image(path, width=128)
    except (OSError, StudioError) as exc:
        st.error(str(exc))
