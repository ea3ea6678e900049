"""``models`` and ``audio-keyframes``: the commands that read no store."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from studio.errors import SpecError, StudioError

if TYPE_CHECKING:
    from studio.audio.analysis import AudioKeyframes

__all__ = ["audio_keyframes", "models"]


def audio_keyframes(args: argparse.Namespace) -> int:
    """Print the key frames at the onsets of ``args.file`` (a table, or JSON)."""
    from studio.audio.analysis import onset_keyframes
    from studio.media.audio import load_audio

    if not 0 < args.fps <= 120:
        raise SpecError(f"--fps must be between 0 (exclusive) and 120, got {args.fps:g}")
    schedule = None if args.into is None else _read_schedule(args.into)
    samples, rate = load_audio(args.file)
    found = onset_keyframes(samples, rate, args.fps, args.component)
    if schedule is not None:
        return _merge_into(args, schedule, found)
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


def _read_schedule(path: Path) -> str:
    """The text of schedule file ``path`` (line endings kept), checked to parse; a bad file
    is a ``SpecError`` naming it and the line and column the parser stopped at."""
    from studio.app.cli.files import read_text
    from studio.languages.schedule import parse_schedule

    text = read_text(path, "--into schedule", keep_line_endings=True)
    try:
        parse_schedule(text)
    except StudioError as exc:
        raise SpecError(f"{path}: {exc}") from None
    return text


def _merge_into(args: argparse.Namespace, text: str, found: AudioKeyframes) -> int:
    """Merge ``found``'s key frames into schedule ``text`` with the dashboard's function
    (``merge_keyframes``); print it (``--dry-run``) or write ``args.into`` atomically."""
    from studio.languages.schedule import parse_schedule
    from studio.languages.schedule_edit import merge_keyframes

    frames = list(found.frames)
    if args.to_end:
        frames.append(found.end_frame)
    before = len(parse_schedule(text).keyframes)
    # Pin the seeds the user's keyframes draw now, so new beats do not change their look;
    # with fixed latents they share one latent, and a written seed would take it away.
    base = None if args.latents == "fixed" else args.seed
    merged = merge_keyframes(text, frames, mode=args.merge, keep_seeds_from=base)
    after = len(parse_schedule(merged).keyframes)
    if not args.dry_run:
        _write_atomically(args.into, merged)
    if args.json:
        facts = {
            **found.to_dict(),
            "schedule": merged,
            "written": None if args.dry_run else str(args.into),
            "keyframes_before": before,
            "keyframes_after": after,
        }
        print(json.dumps(facts))
    elif args.dry_run:
        print(merged, end="" if merged.endswith(("\n", "\r")) else "\n")
    else:
        done = (
            f"added {after - before} key frames ({after} in all)"
            if args.merge == "add"
            else f"moved the {after} keyframes to the nearest detected frames"
        )
        print(f"{args.into}: {done}; the prompts are kept")
    return 0


def _write_atomically(path: Path, text: str) -> None:
    """``text`` into ``path`` through a temporary file in its folder and a rename, so that a
    crash leaves the old schedule or the new one, never half of one. The mode is kept."""
    folder = path.resolve().parent
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        shutil.copymode(path, temporary)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise SpecError(f"--into: cannot write schedule file {path}: {exc.strerror}") from None


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
