"""``models`` and ``audio-keyframes``: the commands that read no store."""

from __future__ import annotations

import argparse
import json

from studio.errors import SpecError

__all__ = ["audio_keyframes", "models"]


def audio_keyframes(args: argparse.Namespace) -> int:
    """Print the key frames at the onsets of ``args.file`` (a table, or JSON)."""
    from studio.audio.analysis import onset_keyframes
    from studio.media.audio import load_audio

    if not 0 < args.fps <= 120:
        raise SpecError(f"--fps must be between 0 (exclusive) and 120, got {args.fps:g}")
    samples, rate = load_audio(args.file)
    found = onset_keyframes(samples, rate, args.fps, args.component)
    if args.json:
        print(json.dumps(found.to_dict()))
        return 0
    print(
        f"{len(found.frames)} key frames at {args.fps:g} fps from the {args.component} "
        f"component of {args.file} ({found.duration:.2f} s, ends at frame {found.end_frame})"
    )
    for frame, seconds in zip(found.frames, found.timestamps, strict=True):
        print(f"{frame:>7}  {seconds:9.3f} s")
    return 0


def models() -> int:
    """Print the built-in models, one a line."""
    from studio.pipeline.builtin import BUILTIN_MODELS

    for name, model in BUILTIN_MODELS.items():
        stop = f"guidance stop {model.guidance_stop:g}  " if model.guidance_stop else ""
        print(
            f"builtin:{name}  {model.native_size}px  guidance {model.guidance:g}  {stop}"
            f"{model.description}"
        )
    return 0
