"""The soundtrack panel: the Audio & Video page's (for Prompt Schedule) and the Blend page's.

Upload a track (stored as an input of the session), choose its component, whether it drives
timing and goes into MP4 output. For an animation (``ANIMATION``): find key frames at its
onsets, see them on a chart with a frame axis and write them into the Prompt Schedule's
schedule (keeping the prompts). For a blend (``BLEND``): where the prompts are reached (the
track's onsets, evenly, or the user's times) and how much the loudness lowers crossfeed.
The values live in the form's keys (``av.*`` of ``ui.spec_form``, ``blend.audio_*`` of
``ui.blend_form``) that map to the spec's audio group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st

from studio.errors import StudioError
from ui.sidebar import SidebarChoice
from ui.state import get_value, keep, set_value

__all__ = ["ANIMATION", "BLEND", "AudioForm", "draw_audio_section"]

AUDIO_TYPES = ["wav", "mp3", "ogg", "flac"]
_COMPONENTS = ("both", "percussive", "harmonic")
_MODES = {"add": "add key frames", "move": "move my keyframes to the beats"}
_PLACEMENTS = {"onsets": "on the track's strongest onsets", "even": "evenly"}


@dataclass(frozen=True)
class AudioForm:
    """Where one render kind's soundtrack widgets live.

    ``prefix``: of the panel's widget keys (``av.`` + ``timing``); ``path``: the kept value
    holding the track; ``format``: that of the output format; ``drawer``: the form's field
    drawer (``ui.fields.field_drawer``); ``uses``: what the track does besides its sound;
    ``blend``: a blend's placement widgets instead of the animation's key frames.
    """

    prefix: str
    path: str
    format: str
    drawer: Callable[[], Any]
    uses: str
    blend: bool = False


def _animation_drawer() -> Any:
    from studio.spec import AnimationSpec
    from ui.fields import field_drawer
    from ui.spec_form import FIELDS

    return field_drawer(AnimationSpec, FIELDS)


def _blend_drawer() -> Any:
    from studio.spec import BlendSpec
    from ui.blend_form import FIELDS
    from ui.fields import field_drawer

    return field_drawer(BlendSpec, FIELDS)


ANIMATION = AudioForm("av.", "av.audio", "ps.format", _animation_drawer, "drive timing and curves")
BLEND = AudioForm(
    "blend.audio_",
    "blend.audio_path",
    "blend.format",
    _blend_drawer,
    "place the transitions",
    blend=True,
)


def draw_audio_section(choice: SidebarChoice, form: AudioForm = ANIMATION) -> None:
    """Draw the panel; the form's ``keep_defaults`` must have run in this script run."""
    st.subheader("Soundtrack")
    k = form.prefix
    _upload(choice, form)
    path = get_value(form.path)
    if path:
        _show_track(path, form)
    draw = form.drawer()
    if form.blend:
        _draw_placement(draw, k, path)
    else:
        _draw_keyframes(draw, path)

    st.markdown("**How the track drives the " + ("blend**" if form.blend else "animation**"))
    t1, t2, t3 = st.columns(3)
    draw(t1, k + "timing", label="Audio-driven timing", disabled=not path)
    draw(t2, k + "smoothing", widget="slider")
    draw(t3, k + "mux", label="Put the track into MP4 output")
    notes = []
    if form.blend:
        notes.append(
            "The video is as long as the track unless a duration is set; the first prompt is "
            "held before its time and the last after its own."
        )
    else:
        notes.append(
            "Every curve (the easing curve, motion and strength) may use the variable "
            "`audio`: the component's loudness at that frame, 0 to 1, e.g. "
            "`0: (1 + 0.05*audio)`."
        )
    if path and get_value(k + "mux") and get_value(form.format) != "mp4":
        notes.append(
            f"The output format is {str(get_value(form.format)).upper()}, which has "
            f"no sound: the track will {form.uses} but not be heard."
        )
    for note in notes:
        st.caption(note)


def _draw_placement(draw: Any, k: str, path: str) -> None:
    """A blend's: the component, where the prompts are reached, the crossfeed's share."""
    c1, c2, c3 = st.columns(3)
    draw(c1, k + "component", options=_COMPONENTS)
    draw(c2, k + "placement", widget="radio", format_func=_PLACEMENTS.get, disabled=not path)
    c2.text_input(
        "Prompt times (seconds)",
        key=k + "times",
        disabled=not path,
        help="One per prompt, increasing, e.g. 0,4.5,9: they place the prompts instead of "
        "the onsets (not with 'evenly').",
    )
    draw(c3, k + "crossfeed", label="Loudness lowers crossfeed", widget="slider")


def _draw_keyframes(draw: Any, path: str) -> None:
    """An animation's: the component and fps, key frames found and written into the schedule."""
    keep("av.merge", "add")
    keep("av.to_end", True)
    c1, c2, c3 = st.columns(3)
    draw(c1, "av.component", options=_COMPONENTS)
    # One fps for the key frames and the render: this widget mirrors Prompt Schedule's.
    # (Not the same key: Streamlit resets a key drawn by a widget on another page.)
    st.session_state["av.fps"] = get_value("ps.fps")
    c2.number_input(
        "Frames per second",
        1,
        120,
        key="av.fps",
        on_change=lambda: set_value("ps.fps", st.session_state["av.fps"]),
        help="the animation's fps, the same as on Prompt Schedule",
    )
    c3.radio("Key frames", list(_MODES), format_func=_MODES.get, key="av.merge")
    st.checkbox(
        "Last key frame where the track ends (the video is as long as the track)",
        key="av.to_end",
    )
    if st.button("Detect key frames", key="av.detect", disabled=not path):
        _detect(path)
    found = _current_result(path)
    if found is not None:
        _show_result(found)


def _upload(choice: SidebarChoice, form: AudioForm) -> None:
    """Store a newly uploaded track (once per upload) and make it the spec's track."""
    from studio.media.audio import check_audio
    from ui.uploads import save_upload

    k = form.prefix
    upload = st.file_uploader("Audio file", type=AUDIO_TYPES, key=k + "upload")
    if upload is None:
        st.session_state.pop(k + "upload_error", None)
        return
    if st.session_state.get(k + "upload_id") != upload.file_id:
        st.session_state[k + "upload_id"] = upload.file_id
        st.session_state.pop(k + "upload_error", None)
        try:
            stored = save_upload(upload, choice.session, "audio", check=check_audio)
        except StudioError as exc:
            st.session_state[k + "upload_error"] = str(exc)  # names the file the user sent
        else:
            set_value(form.path, stored)
            st.session_state.pop(k + "found", None)
    if k + "upload_error" in st.session_state:
        st.error(st.session_state[k + "upload_error"])


def _show_track(path: str, form: AudioForm) -> None:
    from studio.media.paths import resolve_media_path

    resolved = resolve_media_path(path)
    c1, c2 = st.columns([4, 1])
    c1.caption(f"Track: `{path}`")
    c2.button("Remove track", key=form.prefix + "remove", on_click=_remove_track, args=(form,))
    if resolved.is_file():
        st.audio(str(resolved))
    else:
        st.warning(f"The track {path} is missing.")


def _remove_track(form: AudioForm) -> None:
    k = form.prefix
    set_value(form.path, "")
    set_value(k + "timing", False)
    if form.blend:  # what needs a track goes with it
        set_value(k + "times", "")
        set_value(k + "crossfeed", 0.0)
    st.session_state.pop(k + "found", None)


def _detect(path: str) -> None:
    from studio.audio.analysis import analyse_audio, waveform
    from studio.media.audio import cached_audio

    fps, component = float(get_value("ps.fps")), get_value("av.component")
    try:
        with st.spinner("Finding the onsets..."):
            found = analyse_audio(path, fps, component)
            samples, rate = cached_audio(path)
            wave = waveform(samples, rate)
    except StudioError as exc:
        st.error(str(exc))
        return
    st.session_state["av.found"] = ((path, fps, component), found, wave)


def _current_result(path: str):
    """The detection result, if it was made for the current track, fps and component."""
    kept = st.session_state.get("av.found")
    if kept is None or not path:
        return None
    key, found, wave = kept
    if key != (path, float(get_value("ps.fps")), get_value("av.component")):
        st.info("The track, fps or component changed since the key frames were found.")
        return None
    return found, wave


def _show_result(result) -> None:
    from ui.charts import audio_chart

    found, (times, peaks) = result
    shown = ", ".join(str(f) for f in found.frames[:40])
    more = f" and {len(found.frames) - 40} more" if len(found.frames) > 40 else ""
    st.markdown(
        f"**{len(found.frames)} key frames** at {found.fps:g} fps ({found.component}): "
        f"{shown}{more}. The track lasts {found.duration:.2f} s (to frame {found.end_frame})."
    )
    st.plotly_chart(audio_chart(times, peaks, found), width="stretch", key="av.chart")
    st.button(
        "Write key frames into the schedule",
        key="av.write",
        type="primary",
        on_click=_write_keyframes,
        args=(found,),
    )
    message = st.session_state.pop("av.write_message", None)
    if message is not None:
        kind, text = message
        (st.success if kind == "success" else st.error)(text)


def _write_keyframes(found) -> None:
    from studio.languages.schedule import parse_schedule
    from studio.languages.schedule_edit import merge_keyframes

    frames = list(found.frames)
    if get_value("av.to_end"):
        frames.append(found.end_frame)
    text = get_value("ps.schedule", "")
    try:
        before = len(parse_schedule(text).keyframes)
        # Pin the seeds the user's keyframes draw now, so new beats do not change their look.
        base = None if get_value("ps.latents", "keyframe") == "fixed" else get_value("ps.seed", 0)
        merged = merge_keyframes(text, frames, mode=get_value("av.merge"), keep_seeds_from=base)
        after = len(parse_schedule(merged).keyframes)
    except StudioError as exc:
        st.session_state["av.write_message"] = (
            "error",
            f"The schedule on Prompt Schedule cannot be read, so nothing was written: {exc}",
        )
        return
    set_value("ps.schedule", merged)
    done = (
        f"added {after - before} key frames ({after} in all)"
        if get_value("av.merge") == "add"
        else f"moved the {after} keyframes to the nearest detected frames"
    )
    st.session_state["av.write_message"] = (
        "success",
        f"Schedule updated: {done}; your prompts are kept. See Prompt Schedule.",
    )
