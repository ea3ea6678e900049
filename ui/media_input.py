"""Video and image input: the Audio & Video page's input section, Prompt Schedule's motion
options, and Gallery's "Send to input".

An input is stored under ``STUDIO_HOME/inputs/<session>/`` and recorded as input media of
the session (``ui.uploads.save_upload``); the spec holds its path relative to ``STUDIO_HOME``
in ``av.video`` or ``av.image`` (``ui.spec_form`` maps them to the spec's input group). A new
video also sets the animation's fps and size to its own, the size rounded to multiples of 8,
and the page says so.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import streamlit as st

from studio.errors import StudioError
from studio.spec import AnimationSpec
from ui.state import get_value, keep, set_value

__all__ = [
    "VIDEO_TYPES",
    "IMAGE_TYPES",
    "draw_input_section",
    "draw_motion_options",
    "input_frames",
    "send_to_input",
]

VIDEO_TYPES = ["mp4", "mov", "webm", "mkv", "avi", "gif"]
IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp"]


def draw_input_section() -> None:
    """Upload or show the video / image input; ``keep_defaults`` must have run this run."""
    from ui.sidebar import current

    st.subheader("Video or image input")
    st.caption(
        "Each frame starts from the input (img2img at Prompt Schedule's strength curve): a "
        "video gives one init per frame, resampled to the fps, and sets the length; an image "
        "is the init of every frame (or only the first, with motion)."
    )
    upload = st.file_uploader(
        "Video or image", type=VIDEO_TYPES + IMAGE_TYPES, key="av.input_upload"
    )
    if upload is not None and st.session_state.get("av.input_id") != upload.file_id:
        st.session_state["av.input_id"] = upload.file_id
        st.session_state.pop("av.input_error", None)
        kind = "image" if Path(upload.name).suffix.lower().lstrip(".") in IMAGE_TYPES else "video"
        try:
            _use(_store(upload, current().session, kind), kind)
        except StudioError as exc:
            st.session_state["av.input_error"] = str(exc)  # names the file the user sent
    if upload is None:
        st.session_state.pop("av.input_error", None)
    if "av.input_error" in st.session_state:
        st.error(st.session_state["av.input_error"])
    _show_input()


def _show_input() -> None:
    from studio.media.inputs import probe_image, resolve_input_path, video_info

    video, image = get_value("av.video", ""), get_value("av.image", "")
    keep("av.keep_audio", False)
    if not (video or image):
        st.info("No input: frames start from noise (text-to-image).")
        set_value("av.keep_audio", False)
        return
    c1, c2 = st.columns([4, 1])
    c1.caption(f"{'Video' if video else 'Image'} input: `{video or image}`")
    c2.button("Remove input", key="av.remove_input", on_click=_remove_input)
    try:
        if video:
            info = video_info(video)
            st.markdown(
                f"**{info.frames} frames** at **{info.fps:g} fps** "
                f"({info.duration:.2f} s), **{info.width}×{info.height}**"
                + (", with sound" if info.has_audio else ", no sound")
            )
            width, height = info.rounded_size
            if info.rounded:
                st.warning(
                    f"The model needs sides that are multiples of 8: this {info.width}×"
                    f"{info.height} video is rendered at {width}×{height} (stretched)."
                )
            st.caption(
                f"At {get_value('ps.fps', 12)} fps it gives "
                f"{info.output_frames(get_value('ps.fps', 12))} frames; the schedule's "
                "keyframes set the prompts. Fps and size are set from the video when it is "
                "chosen; change them on Prompt Schedule."
            )
            st.video(str(info.path))
            if not info.has_audio:
                set_value("av.keep_audio", False)
            st.checkbox(
                "Keep the video's sound in MP4 output (when no soundtrack is chosen)",
                key="av.keep_audio",
                disabled=not info.has_audio,
            )
        else:
            info = probe_image(resolve_input_path(image))
            st.markdown(f"**{info.width}×{info.height}** image, resized to the output size")
            st.image(str(info.path), width=256)
            set_value("av.keep_audio", False)
    except StudioError as exc:
        st.error(str(exc))


def _remove_input() -> None:
    set_value("av.video", "")
    set_value("av.image", "")
    set_value("av.keep_audio", False)
    if get_value("ps.color_match") == "input":
        set_value("ps.color_match", "none")


def _store(upload: Any, session: str, kind: str) -> str:
    """Save an upload (or an in-memory file) as input media; MediaError for a bad file."""
    from studio.media.inputs import probe_image, probe_video
    from ui.uploads import save_upload

    check = probe_video if kind == "video" else probe_image
    return save_upload(upload, session, kind, check=check)


def _use(path: str, kind: str) -> None:
    """Make ``path`` the input; a video also sets fps and size (rounded to multiples of 8)."""
    from studio.media.inputs import video_info

    set_value("av.video" if kind == "video" else "av.image", path)
    set_value("av.image" if kind == "video" else "av.video", "")
    if kind == "video":
        info = video_info(path)
        width, height = info.rounded_size
        set_value("ps.fps", min(120, max(1, round(info.fps))))
        set_value("ps.width", width)
        set_value("ps.height", height)
        # Motion moves the previous frame; a video gives every frame its own start.
        moving_2d = ("ps.zoom", "ps.angle", "ps.translate_x", "ps.translate_y")
        moving_3d = ("ps.translation_z", "ps.rotation_3d_x", "ps.rotation_3d_y", "ps.rotation_3d_z")
        for name in (*moving_2d, *moving_3d, "ps.depth_model", "ps.depth_input"):
            set_value(name, "")
    else:
        set_value("av.keep_audio", False)


def input_frames(spec) -> int | None:
    """The frame count a spec's video input gives (None without one); ``MediaError``."""
    if not spec.input.video:
        return None
    from studio.media.inputs import video_info

    return video_info(spec.input.video).output_frames(spec.animation.fps)


# -- Prompt Schedule ---------------------------------------------------------------------------


def draw_motion_options() -> None:
    """The *Motion and input* expander of Prompt Schedule (``keep_defaults`` ran)."""
    video, image = get_value("av.video", ""), get_value("av.image", "")
    with st.expander("Motion and input"):
        if video or image:
            st.caption(
                f"Input: `{video or image}` (change it on the Audio & Video page). Each "
                "frame starts from it at this strength."
            )
        else:
            st.caption(
                "No input (add one on the Audio & Video page). Strength applies to frames "
                "that start from an image: the input, or the previous frame with motion."
            )
        draw = _motion_drawer()
        draw(st, "ps.strength")
        m1, m2, m3, m4 = st.columns(4)
        for column, key in zip(
            (m1, m2, m3, m4),
            ("ps.zoom", "ps.angle", "ps.translate_x", "ps.translate_y"),
            strict=True,
        ):
            draw(column, key)
        st.caption(
            "Any motion curve turns on feedback: each frame is the previous one moved, then "
            "img2img; such renders go one frame at a time. Curves may use `t` and `audio`."
        )
        c1, c2, c3, c4, c5 = st.columns(5)
        draw(c1, "ps.border", options=("replicate", "reflect", "zero"))
        draw(c2, "ps.noise")
        draw(c3, "ps.coherence_scale", label="Coherence")
        draw(c4, "ps.coherence_alpha")
        draw(c5, "ps.color_match", label="Colour match")
        draw(st, "ps.coherence_noise")
        from ui.depth_panel import draw_depth_motion

        draw_depth_motion(draw)


def _motion_drawer() -> Any:
    """The Prompt Schedule form's drawer: widgets from the spec's field descriptions."""
    from ui.fields import field_drawer
    from ui.spec_form import FIELDS

    return field_drawer(AnimationSpec, FIELDS)


# -- Gallery -----------------------------------------------------------------------------------


class _Memory:
    """What ``save_upload`` needs of an upload: a name and the bytes."""

    def __init__(self, name: str, data: bytes):
        self.name = name
        self._data = data

    def getvalue(self) -> bytes:
        return self._data


def send_to_input(path: Path, kind: str, frames: int, key: str, session: str) -> None:
    """Gallery controls: one frame of an output becomes the image input, or a whole video
    the video input (copied into the session's inputs and recorded)."""
    with st.popover("Send to input", width="stretch"):
        frame = st.number_input(
            "Frame", 0, max(0, frames - 1), 0, key=f"{key}.frame", help="0 is the first frame"
        )
        if st.button("Frame → image input", key=f"{key}.image", width="stretch"):
            try:
                name = f"{path.stem}-frame{int(frame)}.png"
                stored = _store(_Memory(name, _frame_png(path, int(frame))), session, "image")
                _use(stored, "image")
                st.success(f"Frame {int(frame)} is the image input (Audio & Video page).")
            except StudioError as exc:
                st.error(str(exc))
        if kind in ("mp4", "gif") and st.button(
            "Whole video → video input", key=f"{key}.video", width="stretch"
        ):
            try:
                stored = _store(_Memory(path.name, path.read_bytes()), session, "video")
                _use(stored, "video")
                st.success("The video is the video input (Audio & Video page).")
            except (StudioError, OSError) as exc:
                st.error(str(exc))


def _frame_png(path: Path, index: int) -> bytes:
    """Frame ``index`` of a video or PNG folder as PNG bytes (read as a stream)."""
    from PIL import Image

    from studio.errors import MediaError
    from studio.media.readers import read_frames

    frames = read_frames(path)
    try:
        for i, frame in enumerate(frames):
            if i == index:
                buffer = io.BytesIO()
                Image.fromarray(frame).save(buffer, format="PNG")
                return buffer.getvalue()
    finally:
        frames.close()
    raise MediaError(f"{path.name} has no frame {index}")
