"""Prompt Schedule's 3D motion: the 3D curves, the camera, and the depth source (a depth
model, or a depth image or video uploaded as input media of the session).

The widgets are drawn from the spec's field descriptions (``ps.translation_z``...); an upload
is checked (``probe_image`` / ``probe_video``) before it is kept, and its path relative to
``STUDIO_HOME`` becomes ``ps.depth_input``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from studio.errors import StudioError
from ui.state import set_value

__all__ = ["draw_depth_motion"]

_IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp"]
_VIDEO_TYPES = ["mp4", "mov", "webm", "mkv", "avi", "gif"]


def draw_depth_motion(draw: Any) -> None:
    """The 3D motion block of the *Motion and input* expander; ``draw`` is the form's drawer."""
    st.markdown("**3D motion** (the previous frame moved through its depth map)")
    c1, c2, c3, c4, c5 = st.columns(5)
    for column, key in zip(
        (c1, c2, c3, c4, c5),
        ("ps.translation_z", "ps.rotation_3d_x", "ps.rotation_3d_y", "ps.rotation_3d_z", "ps.fov"),
        strict=True,
    ):
        draw(column, key)
    _upload()  # before the depth input's widget, which then shows the stored path
    d1, d2, d3, d4 = st.columns([3, 3, 1, 1])
    draw(d1, "ps.depth_model", label="Depth model (folder or cached Hub id)")
    draw(d2, "ps.depth_input", label="Depth image or video (white = near)")
    draw(d3, "ps.depth_near")
    draw(d4, "ps.depth_far")
    st.caption(
        "3D curves need one depth source: a DPT or Depth Anything model reads each frame, or "
        "your depth image (every frame) or video (one per frame). Depth units: white is at "
        "*depth near*, black at *depth far*; translation z moves the camera in those units."
    )


def _upload() -> None:
    """A depth image or video sent here becomes the depth input (once per upload)."""
    from studio.media.inputs import probe_image, probe_video
    from ui.sidebar import current
    from ui.uploads import save_upload

    upload = st.file_uploader(
        "Upload a depth image or video", type=_IMAGE_TYPES + _VIDEO_TYPES, key="ps.depth_upload"
    )
    if upload is None or st.session_state.get("ps.depth_upload_id") == upload.file_id:
        return
    st.session_state["ps.depth_upload_id"] = upload.file_id
    kind = "image" if Path(upload.name).suffix.lower().lstrip(".") in _IMAGE_TYPES else "video"
    try:
        check = probe_video if kind == "video" else probe_image
        stored = save_upload(upload, current().session, kind, check=check)
    except StudioError as exc:
        st.error(str(exc))  # names the file the user sent
        return
    set_value("ps.depth_input", stored)
    set_value("ps.depth_model", "")
