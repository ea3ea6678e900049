"""An animation's audio track: the envelope that drives its curves, and the sound in its MP4.

Both read ``spec.audio`` (``studio.audio.analysis`` does the signal work, imported only when a
spec has a track).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import numpy as np

from studio.events import OutputFile
from studio.spec import AnimationSpec

if TYPE_CHECKING:
    from studio.pipeline.common import Clock

__all__ = ["add_sound", "add_soundtrack", "audio_path", "curve_variables"]


def audio_path(spec: AnimationSpec) -> str:
    """The spec's audio track, if the audio group (issue 5, AUDIO) exists and sets one."""
    return getattr(getattr(spec, "audio", None), "path", "") or ""


def add_soundtrack(
    spec: AnimationSpec, output: OutputFile, clock: Clock
) -> tuple[OutputFile, list[str]]:
    """Mux the spec's audio track into finished MP4 output; ``(output, notes)``.

    GIF and PNG cannot carry sound: they are left as they are, and a note says so.
    """
    a = spec.audio
    if not a.path or not a.mux:
        return output, []
    from studio.media.writers import mux_soundtrack

    # Only real muxing is timed: a GIF or PNG output just gets its note.
    with clock.stage("audio") if output.kind == "mp4" else contextlib.nullcontext():
        return mux_soundtrack(output, a.path, "drives timing and curves")


def add_sound(
    spec: AnimationSpec, output: OutputFile, clock: Clock, video_path: str | None
) -> tuple[OutputFile, list[str]]:
    """The finished file's sound: the spec's audio track (``add_soundtrack``), else the input
    video's own audio when the spec keeps it (``video_path``: that video); ``(output,
    notes)``. The render and a scaled-out render end with it."""
    output, notes = add_soundtrack(spec, output, clock)
    if spec.input.keep_audio and not audio_path(spec) and video_path:
        from studio.media.writers import mux_audio

        with clock.stage("write"):
            output = mux_audio(output, video_path)
    return output, notes


def curve_variables(spec: AnimationSpec, input_frames: int | None) -> dict[str, np.ndarray] | None:
    """``{"audio": envelope}`` for the motion curves when the spec has an audio track."""
    path = audio_path(spec)
    if not path:
        return None
    from studio.audio.analysis import audio_envelope
    from studio.languages.easing import walk_frame_count
    from studio.languages.schedule import parse_schedule
    from studio.media.inputs import resolve_input_path

    schedule = parse_schedule(spec.prompts.schedule)
    frames = input_frames or walk_frame_count(schedule, spec.animation.loop)
    envelope = audio_envelope(
        resolve_input_path(path), spec.audio.component, spec.animation.fps, frames
    )
    return {"audio": envelope}
