"""Editing a prompt schedule's text: put detected key frames (e.g. a track's beats) into it.

The user's text is edited, not regenerated: comments, blank lines, the ``negative:`` line,
line endings and the order of lines survive, and only keyframe lines are added or have their
frame (or seed) rewritten. The result reads with ``studio.languages.schedule.parse_schedule``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from studio.errors import ScheduleError
from studio.languages.schedule import (
    MAX_FRAME,
    Keyframe,
    PromptSchedule,
    format_schedule,
    parse_schedule,
)

__all__ = ["merge_keyframes"]

_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")  # the schedule's line breaks, kept by split
_DIGITS = re.compile(r"[0-9]+")


def merge_keyframes(
    text: str,
    frames: Iterable[int],
    mode: Literal["add", "move"] = "add",
    keep_seeds_from: int | None = None,
) -> str:
    """Put detected key frames into a schedule's text, keeping what the user wrote.

    ``add``: every frame in ``frames`` that is not yet a keyframe gets a new line
    ``FRAME: prompt``, repeating the prompt (and per-keyframe negative prompt) in force
    there: that of the nearest keyframe at or before it, or of the first keyframe for frames
    before it. So the picture keeps its subject and changes on each beat (each keyframe draws
    its own starting noise), and prompt changes stay where the user put them. A new line goes
    just after the line of the keyframe whose prompt it repeats (before the first keyframe's
    line for earlier frames). Seeds are not copied: a copied seed would make the beat
    invisible.

    ``keep_seeds_from``: the render's base seed (``diffusion.seed``). Keyframes without their
    own ``[seed=N]`` draw ``base + index``, so a line inserted before one would shift its
    index and change how it looks; with a base seed, ``add`` writes each such keyframe's
    current seed onto its line (``N [seed=S]: ...``) when a new line comes before it, so what the user already had stays
    exactly as it was.

    ``move``: every keyframe moves to the nearest frame of ``frames`` after the one the
    previous keyframe moved to (so order is kept and no two meet); a keyframe with no such
    frame left stays where it is, or goes just after the previous one. Only the frame
    numbers on the keyframe lines change.

    Everything else (comments, blank lines, the ``negative:`` line, line endings, the order
    of lines) is kept. Frames outside ``0 .. studio.languages.schedule.MAX_FRAME`` are ignored.

    Returns the new text, which ``parse_schedule`` reads. Raises ``ScheduleError`` if
    ``text`` itself does not parse, ``ValueError`` for an unknown mode.
    """
    if mode not in ("add", "move"):
        raise ValueError(f"mode must be 'add' or 'move', got {mode!r}")
    schedule = parse_schedule(text)
    wanted = sorted({int(f) for f in frames if 0 <= int(f) <= MAX_FRAME})
    parts = _LINE_BREAK.split(text)
    lines, breaks = parts[0::2], parts[1::2] + [""]  # line i ends with breaks[i]
    newline = breaks[0] or "\n"
    keys = schedule.keyframes

    if mode == "move":
        previous = -1
        for key in keys:
            later = [f for f in wanted if f > previous]
            if later:
                target = min(later, key=lambda f: (abs(f - key.frame), f))
            else:
                target = max(key.frame, previous + 1)
            if target > MAX_FRAME:
                raise ScheduleError(
                    f"no room to move frame {key.frame} after frame {previous}",
                    key.line,
                    1,
                )
            lines[key.line - 1] = _with_frame(lines[key.line - 1], target)
            previous = target
        return "".join(line + brk for line, brk in zip(lines, breaks, strict=True))

    existing = {k.frame for k in keys}
    added = [f for f in wanted if f not in existing]
    if keep_seeds_from is not None and added:
        for index, key in enumerate(keys):
            # Only keyframes after the first new line move to a later index.
            if key.seed is None and key.frame > added[0]:
                seed = (keep_seeds_from + index) % 2**63
                lines[key.line - 1] = _with_seed(lines[key.line - 1], seed)
    before_first: list[str] = []
    after: dict[int, list[str]] = {}  # source line number -> new lines, in frame order
    for frame in wanted:
        if frame in existing:
            continue
        in_force = [k for k in keys if k.frame <= frame]
        source = in_force[-1] if in_force else keys[0]
        new = Keyframe(frame=frame, prompt=source.prompt, negative=source.negative)
        line = format_schedule(PromptSchedule((new,))).rstrip("\n")
        if in_force:
            after.setdefault(source.line, []).append(line)
        else:
            before_first.append(line)
    out: list[str] = []
    for number, (line, brk) in enumerate(zip(lines, breaks, strict=True), start=1):
        if number == keys[0].line:
            out.extend(new + newline for new in before_first)
        out.append(line)
        if number in after:
            out.append(brk or newline)
            out.extend(new + newline for new in after[number][:-1])
            out.append(after[number][-1] + (brk if brk else ""))
        else:
            out.append(brk)
    return "".join(out)


def _frame_span(line: str) -> tuple[int, int]:
    """Where a parsed keyframe line's frame number starts and ends (after leading blanks)."""
    start = len(line) - len(line.lstrip())
    digits = _DIGITS.match(line, start)
    assert digits is not None, "a parsed keyframe line starts with its frame"
    return start, digits.end()


def _with_seed(line: str, seed: int) -> str:
    """A keyframe line (without a seed) with ``[seed=N]`` written after its frame number."""
    _, end = _frame_span(line)
    return line[:end] + f" [seed={seed}]" + line[end:]


def _with_frame(line: str, frame: int) -> str:
    """A keyframe line with its frame number replaced (the first token after blanks)."""
    start, end = _frame_span(line)
    return line[:start] + str(frame) + line[end:]
