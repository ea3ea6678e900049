"""The prompt-schedule language: which prompt the animation shows from which frame on.

Syntax
------
One keyframe per line, ``FRAME: prompt``::

    # a sunrise in three keyframes
    negative: blurry, text, watermark
    0: a dark night sky, stars
    24 [seed=42]: a (red)1.2 sunrise over the sea
    48: a bright blue++ morning sky | negative: clouds, birds
    72: noon   # the sun at its highest

- ``FRAME`` is a whole number from 0 to 100000 (decimal digits; leading zeros are allowed and
  dropped). Lines may come in any order: keyframes are sorted by frame. Each frame may appear
  only once. Frames before the first keyframe show the first keyframe's prompt, and the
  animation ends at the last keyframe (``frame_count == last_frame + 1``).
- An optional options block between the frame and the colon: ``24 [seed=42]: ...``. The only
  option is ``seed``, a whole number from 0 to 2**63 - 1; it fixes that keyframe's starting
  noise. Without it the renderer derives the seed. Options are ``name=value`` pairs separated
  by commas; ``[]`` is allowed and means no options.
- The prompt is everything after the first colon that follows the frame (and its options
  block), so a prompt may itself contain colons, brackets and compel weighting syntax:
  ``(red)1.2``, ``blue++``, ``("a cat", "a dog").blend(0.5, 0.5)``. Its parentheses (and a
  negative prompt's) must pair up (``studio.languages.brackets``; ``\\(`` is a bracket that is
  only text).
- A per-keyframe negative prompt follows ``| negative:`` on the same line (spaces around
  ``|`` and ``:`` are optional): ``48: a sky | negative: clouds``. An empty one
  (``48: a sky | negative:``) means "no negative prompt for this keyframe".
- A line ``negative: ...`` sets the negative prompt for every keyframe without its own. It may
  appear at most once, anywhere in the text.
- Comments: a line whose first non-blank character is ``#`` is ignored, and whitespace followed
  by ``#`` starts a comment that runs to the end of the line (``72: noon  # note``). A ``#``
  glued to the text before it stays in the prompt (``C#``, ``0:#hashtag``).
- Blank lines are ignored; whitespace around frames, prompts and option values is ignored;
  ``\\r\\n`` (Windows) and ``\\r`` line endings read like ``\\n``.

Errors
------
``parse_schedule`` raises ``ScheduleError`` and nothing else for any text. The error's
``line`` and ``column`` (1-based) point at the offending character, or at the end of the line
when something is missing; an empty schedule is reported at line 1, column 1.

``format_schedule`` writes the canonical text of a schedule (global negative line first, then
one keyframe per line in frame order), and ``parse_schedule(format_schedule(s)) == s``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from studio.errors import ScheduleError
from studio.languages.brackets import unmatched_bracket

__all__ = [
    "MAX_FRAME",
    "MAX_PROMPT_LENGTH",
    "MAX_PROMPT_TEXT",
    "MAX_SCHEDULE_LENGTH",
    "MAX_SEED",
    "Keyframe",
    "PromptSchedule",
    "format_schedule",
    "parse_schedule",
]

MAX_FRAME = 100_000
MAX_SEED = 2**63 - 1
# Text the encoder must read: compel parses about 0.23 ms a character, so one prompt at the
# limit takes about a second to encode, and the distinct prompts of a schedule together at
# most about 1.5 minutes (docs/limits.md).
MAX_PROMPT_LENGTH = 4_000  # characters of one prompt or negative prompt
MAX_PROMPT_TEXT = 400_000  # characters of a schedule's distinct prompts and negatives together
MAX_SCHEDULE_LENGTH = 5_000_000  # characters of the schedule's text

_DIGITS = re.compile(r"[0-9]+")
# A frame token runs to the first blank, colon or options bracket; anything else in it is an
# error, which gives a better message ("got '1.5'") than stopping at the first non-digit.
_FRAME_TOKEN = re.compile(r"[^\s:\[]*")
_TRAILING_COMMENT = re.compile(r"\s#")
_NEGATIVE_SEPARATOR = re.compile(r"\|\s*negative\s*:")
_NEGATIVE_LINE = re.compile(r"negative\s*:")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Keyframe:
    """One keyframe: from ``frame`` on the animation moves towards ``prompt``.

    ``negative`` None means "use the schedule's (or the spec's) negative prompt"; ``""`` means
    "no negative prompt here". ``seed`` None means the renderer derives one. ``line`` is the
    1-based source line (0 when built in code); it is provenance only and is not compared.
    """

    frame: int
    prompt: str
    negative: str | None = None
    seed: int | None = None
    line: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.frame, bool) or not isinstance(self.frame, int):
            raise ValueError(f"keyframe frame must be an int, got {self.frame!r}")
        if not 0 <= self.frame <= MAX_FRAME:
            raise ValueError(f"keyframe frame must be between 0 and {MAX_FRAME}, got {self.frame}")
        if not isinstance(self.prompt, str):
            raise ValueError(f"keyframe prompt must be a str, got {self.prompt!r}")
        if self.negative is not None and not isinstance(self.negative, str):
            raise ValueError(f"keyframe negative must be a str or None, got {self.negative!r}")
        if self.seed is not None and (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int)
            or not 0 <= self.seed <= MAX_SEED
        ):
            raise ValueError(f"keyframe seed must be an int from 0 to 2**63 - 1, got {self.seed!r}")


@dataclass(frozen=True)
class PromptSchedule:
    """Keyframes sorted by frame (at least one, frames unique) and the global negative prompt.

    ``negative`` None means the text had no ``negative:`` line.
    """

    keyframes: tuple[Keyframe, ...]
    negative: str | None = None

    def __post_init__(self) -> None:
        keyframes = tuple(self.keyframes)
        object.__setattr__(self, "keyframes", keyframes)
        if not keyframes:
            raise ValueError("a prompt schedule needs at least one keyframe")
        if not all(isinstance(k, Keyframe) for k in keyframes):
            raise ValueError("a prompt schedule's keyframes must be Keyframe objects")
        frames = [k.frame for k in keyframes]
        if any(a >= b for a, b in zip(frames, frames[1:], strict=False)):
            raise ValueError(f"keyframes must be sorted by frame with no repeats, got {frames}")
        if self.negative is not None and not isinstance(self.negative, str):
            raise ValueError(f"schedule negative must be a str or None, got {self.negative!r}")

    @property
    def last_frame(self) -> int:
        """The frame of the last keyframe: the last frame of the animation."""
        return self.keyframes[-1].frame

    @property
    def frame_count(self) -> int:
        """How many frames the animation has: ``last_frame + 1`` (frames start at 0)."""
        return self.last_frame + 1


def parse_schedule(text: str) -> PromptSchedule:
    """Read a prompt schedule (syntax in the module docstring).

    Raises ``ScheduleError`` with the 1-based line and column of the first problem; any other
    exception is a bug.
    """
    if not isinstance(text, str):
        raise TypeError(f"schedule text must be a str, got {type(text).__name__}")
    if len(text) > MAX_SCHEDULE_LENGTH:
        raise ScheduleError(
            f"the schedule is {len(text):,} characters long; the limit is {MAX_SCHEDULE_LENGTH:,}",
            1,
            1,
        )
    keyframes: list[Keyframe] = []
    budget = _TextBudget()
    line_of_frame: dict[int, int] = {}
    negative: str | None = None
    negative_line = 0
    for number, raw in enumerate(_LINE_BREAK.split(text), start=1):
        line = _strip_comment(raw)
        start = _skip_space(line, 0)
        if start == len(line):
            continue
        if match := _NEGATIVE_LINE.match(line, start):
            if negative_line:
                raise ScheduleError(
                    f"a second 'negative:' line; the first is line {negative_line}",
                    number,
                    start + 1,
                )
            negative = _read_global_negative(line, match.end(), number)
            negative_line = number
            budget.add(negative, "the negative prompt", number, start)
            continue
        keyframe = _parse_keyframe(line, start, number)
        budget.add(keyframe.prompt, "this prompt", number, start)
        budget.add(keyframe.negative or "", "this negative prompt", number, start)
        if keyframe.frame in line_of_frame:
            raise ScheduleError(
                f"frame {keyframe.frame} appears twice: on line {line_of_frame[keyframe.frame]} "
                f"and line {number}",
                number,
                start + 1,
            )
        line_of_frame[keyframe.frame] = number
        keyframes.append(keyframe)
    if not keyframes:
        raise ScheduleError(
            "the schedule has no keyframes; write one per line as 'FRAME: prompt', "
            "e.g. '0: a red circle'",
            1,
            1,
        )
    keyframes.sort(key=lambda k: k.frame)
    return PromptSchedule(tuple(keyframes), negative)


def format_schedule(schedule: PromptSchedule) -> str:
    """The canonical text of ``schedule``; ``parse_schedule`` reads it back equal.

    Every schedule that ``parse_schedule`` returns can be written. A schedule built in code
    whose text cannot be written so that it reads back the same (a prompt with a line break,
    surrounding whitespace, ``" #"`` or ``"| negative:"`` in it, a bracket without its
    partner, or an empty prompt) raises ``ValueError`` naming the keyframe.
    """
    lines = []
    if schedule.negative is not None:
        value = _writable(schedule.negative, "the schedule's negative prompt", allow_empty=True)
        lines.append(_after_colon("negative:", value))
    for keyframe in schedule.keyframes:
        key = str(keyframe.frame)
        if keyframe.seed is not None:
            key += f" [seed={keyframe.seed}]"
        prompt = _writable(keyframe.prompt, f"the prompt of frame {keyframe.frame}", False)
        text = _after_colon(f"{key}:", prompt)
        if keyframe.negative is not None:
            value = _writable(
                keyframe.negative, f"the negative prompt of frame {keyframe.frame}", True
            )
            text += " | " + _after_colon("negative:", value)
        lines.append(text)
    return "\n".join(lines) + "\n"


# -- parsing helpers -----------------------------------------------------------------------


def _strip_comment(line: str) -> str:
    """The line without its comment; indexes of what is kept do not change."""
    if line.lstrip().startswith("#"):
        return ""
    match = _TRAILING_COMMENT.search(line)
    return line if match is None else line[: match.start()]


def _skip_space(line: str, pos: int) -> int:
    while pos < len(line) and line[pos].isspace():
        pos += 1
    return pos


def _shown(token: str, limit: int = 30) -> str:
    """``repr`` of a token, shortened so one bad line cannot flood the message."""
    return repr(token if len(token) <= limit else token[:limit] + "...")


def _bounded_int(digits: str, limit: int) -> int | None:
    """``int(digits)`` if it is at most ``limit``, else None.

    Checks the length first: Python refuses to convert strings of more than 4300 digits, and
    a number that long is out of range anyway.
    """
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(limit)):
        return None
    value = int(significant)
    return value if value <= limit else None


class _TextBudget:
    """The prompt text a schedule asks the encoder to read, checked as it is parsed."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.total = 0

    def add(self, text: str, what: str, number: int, start: int) -> None:
        """``ScheduleError`` at line ``number`` when ``text`` is over ``MAX_PROMPT_LENGTH``,
        or the distinct texts so far, ``text`` included, over ``MAX_PROMPT_TEXT``."""
        if len(text) > MAX_PROMPT_LENGTH:
            raise ScheduleError(
                f"{what} is {len(text):,} characters long; the limit is {MAX_PROMPT_LENGTH:,}",
                number,
                start + 1,
            )
        if text in self.seen:
            return
        self.seen.add(text)
        self.total += len(text)
        if self.total > MAX_PROMPT_TEXT:
            raise ScheduleError(
                f"the schedule's distinct prompts are over {MAX_PROMPT_TEXT:,} characters "
                "together (each is encoded once); repeat prompts or split the animation",
                number,
                start + 1,
            )


def _read_global_negative(line: str, start: int, number: int) -> str:
    match = _NEGATIVE_SEPARATOR.search(line, start)
    if match:
        raise ScheduleError(
            "'| negative:' belongs on a keyframe line; a 'negative:' line is already the "
            "negative prompt",
            number,
            match.start() + 1,
        )
    _check_brackets(line, start, len(line), number)
    return line[start:].strip()


def _check_brackets(line: str, start: int, stop: int, number: int) -> None:
    """A ``ScheduleError`` at the first bracket of the prompt ``line[start:stop]`` that has
    no partner."""
    found = unmatched_bracket(line[start:stop])
    if found is not None:
        offset, reason = found
        raise ScheduleError(reason, number, start + offset + 1)


def _parse_keyframe(line: str, start: int, number: int) -> Keyframe:
    token = _FRAME_TOKEN.match(line, start).group()  # type: ignore[union-attr]
    if not token:
        raise ScheduleError(
            f"expected a frame number before {line[start]!r}, e.g. '0: a red circle'",
            number,
            start + 1,
        )
    if not _DIGITS.fullmatch(token):
        if token.startswith("-") and _DIGITS.fullmatch(token[1:]):
            raise ScheduleError(
                f"frame must not be negative, got {_shown(token)}", number, start + 1
            )
        raise ScheduleError(
            f"expected a frame number (a whole number from 0 to {MAX_FRAME}) or 'negative:', "
            f"got {_shown(token)}",
            number,
            start + 1,
        )
    frame = _bounded_int(token, MAX_FRAME)
    if frame is None:
        raise ScheduleError(
            f"frame {_shown(token)[1:-1]} is larger than the limit {MAX_FRAME}",
            number,
            start + 1,
        )
    pos = _skip_space(line, start + len(token))
    seed = None
    if pos < len(line) and line[pos] == "[":
        close = line.find("]", pos + 1)
        if close < 0:
            raise ScheduleError(
                "'[' is never closed; options look like '12 [seed=42]: a prompt'",
                number,
                pos + 1,
            )
        seed = _parse_options(line, pos + 1, close, number)
        pos = _skip_space(line, close + 1)
    if pos >= len(line) or line[pos] != ":":
        got = "the end of the line" if pos >= len(line) else repr(line[pos])
        raise ScheduleError(f"expected ':' after frame {frame}, got {got}", number, pos + 1)
    prompt, negative = _split_negative(line, pos + 1, number, frame)
    return Keyframe(frame=frame, prompt=prompt, negative=negative, seed=seed, line=number)


def _parse_options(line: str, start: int, stop: int, number: int) -> int | None:
    """The seed from the options text ``line[start:stop]`` (between the brackets)."""
    if not line[start:stop].strip():
        return None
    seed = None
    item_start = start
    for item in line[start:stop].split(","):
        here, item_start = item_start, item_start + len(item) + 1
        if not item.strip():
            raise ScheduleError(
                "empty option; options look like [seed=42]", number, _skip_space(line, here) + 1
            )
        name_part, equals, value_part = item.partition("=")
        name = name_part.strip()
        name_pos = _skip_space(line, here)
        if not name:
            raise ScheduleError("expected an option name before '='", number, name_pos + 1)
        if name != "seed":
            raise ScheduleError(
                f"unknown option {_shown(name)}; the only option is 'seed'", number, name_pos + 1
            )
        if seed is not None:
            raise ScheduleError("option 'seed' is given twice", number, name_pos + 1)
        equals_pos = here + len(name_part)
        if not equals:
            raise ScheduleError(
                "expected '=' after 'seed', e.g. [seed=42]",
                number,
                _skip_space(line, equals_pos) + 1,
            )
        value_pos = _skip_space(line, equals_pos + 1)
        value = value_part.strip()
        seed = _bounded_int(value, MAX_SEED) if _DIGITS.fullmatch(value) else None
        if seed is None:
            raise ScheduleError(
                f"seed must be a whole number from 0 to 2**63 - 1, got {_shown(value)}",
                number,
                value_pos + 1,
            )
    return seed


def _split_negative(line: str, start: int, number: int, frame: int) -> tuple[str, str | None]:
    """The prompt and the optional per-keyframe negative prompt after ``line[start - 1] == ':'``."""
    separator = _NEGATIVE_SEPARATOR.search(line, start)
    if separator is None:
        prompt_end, negative = len(line), None
    else:
        prompt_end = separator.start()
        again = _NEGATIVE_SEPARATOR.search(line, separator.end())
        if again:
            raise ScheduleError(
                "a second '| negative:' on the same line", number, again.start() + 1
            )
        negative = line[separator.end() :].strip()
    prompt = line[start:prompt_end].strip()
    if not prompt:
        # Points just after the colon: where the prompt should have started.
        raise ScheduleError(f"empty prompt for frame {frame}", number, start + 1)
    _check_brackets(line, start, prompt_end, number)
    if separator is not None:
        _check_brackets(line, separator.end(), len(line), number)
    return prompt, negative


# -- formatting helpers --------------------------------------------------------------------


def _writable(value: str, what: str, allow_empty: bool) -> str:
    """``value`` if it reads back unchanged after a colon, else ``ValueError`` naming ``what``."""
    problem = None
    if not value and not allow_empty:
        problem = "is empty"
    elif "\n" in value or "\r" in value:
        problem = "contains a line break"
    elif value != value.strip():
        problem = "starts or ends with whitespace"
    elif _TRAILING_COMMENT.search(value):
        problem = "contains whitespace followed by '#', which would start a comment"
    elif _NEGATIVE_SEPARATOR.search(value):
        problem = "contains '| negative:', which would start a negative prompt"
    elif (found := unmatched_bracket(value)) is not None:
        problem = f"has a bracket without its partner at column {found[0] + 1}"
    if problem:
        raise ValueError(f"cannot write {what} {_shown(value)}: it {problem}")
    return value


def _after_colon(head: str, value: str) -> str:
    # One space after the colon is canonical, but " #" would start a comment, so a value that
    # begins with '#' is glued to its colon instead.
    if not value:
        return head
    return head + ("" if value.startswith("#") else " ") + value
