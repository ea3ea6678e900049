"""The curve language: one number per frame, written as Deforum-style keys.

Syntax
------
Keys ``FRAME: (VALUE)`` separated by commas::

    0: (1.0), 30: (1.05), 60: (1 + 0.05*sin(2*pi*t/24)),

- ``FRAME`` is a whole number from 0 to 100000; each frame may have one key; keys may come in
  any order and are sorted. Whitespace (line breaks included) may go anywhere between the
  parts, and a trailing comma is allowed.
- A text with no key at all (no ``:`` anywhere, which every key has and no value may) is one
  bare value that holds from frame 0: ``0.5`` is ``0: (0.5)`` and ``1 + 0.05*audio`` is
  ``0: (1 + 0.05*audio)``. (``0 (1)``, a key without its colon, is reported as one.)
- ``VALUE`` (in parentheses after its frame) is an expression of at most 1000 characters made of
  numbers (``2``, ``0.5``, ``.5``, ``1e-3``), the variable ``t`` (the frame index), any other
  variables the caller names (e.g. ``s`` for an easing curve), the constants ``pi`` and
  ``e``, the operators ``+ - * / % **`` (``**`` binds tighter than unary minus, as in
  Python: ``-2**2 == -4``), parentheses, and the functions ``sin cos tan asin acos atan abs
  sqrt exp log log10 floor ceil round`` (one argument; ``round`` rounds halves to even),
  ``min max`` (two or more arguments) and ``clamp(x, lo, hi)`` (``min(max(x, lo), hi)``).

Meaning
-------
Take a key *a* at frame ``fa`` and the next key *b* at frame ``fb``:

- if *a*'s value uses a variable, it is evaluated at every frame ``f`` in ``[fa, fb)`` with
  ``t = f`` (and the caller's variables at ``f``);
- otherwise the curve goes in a straight line from *a*'s constant at ``fa`` to *b*'s value at
  ``fb`` (*b* evaluated at ``t = fb`` if it uses variables).

After the last key its value holds (evaluated per frame if it uses variables). Before the
first key, the first key's value at its own frame holds. ``0: (1), 10: (2)`` is 1.0, 1.1, ...
1.9 on frames 0-9 and 2.0 from frame 10 on; ``0: (sin(t))`` is ``sin(t)`` on every frame.

Safety and errors
-----------------
Values are read by a small tokenizer and recursive-descent parser and evaluated by a stack
machine over numpy float64 arrays (``studio.languages.expression``); no Python ``eval``. Nesting is limited to 50 levels,
exponents to magnitude 1e6 and the whole text to 1,000,000 characters. ``parse_curve`` and
evaluation raise ``CurveError`` (with the 1-based line and column of the offending character,
or of the key's value for evaluation errors) for every problem in the text: syntax, unknown
names, a result that is not a finite number (``1/0``, ``log(-1)``, overflow). Constant values
are evaluated, and so checked, when the curve is parsed.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from studio.errors import CurveError
from studio.languages.expression import (
    CONSTANTS,
    FUNCTIONS,
    MAX_DEPTH,
    MAX_EXPONENT,
    Instruction,
    Locator,
    check_names,
    compile_value,
    run_program,
    variables_of,
)
from studio.languages.schedule import MAX_FRAME

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_TEXT_LENGTH",
    "MAX_VALUE_LENGTH",
    "Curve",
    "CurveKey",
    "naming_curve",
    "parse_curve",
]

MAX_TEXT_LENGTH = 200_000  # about 0.7 s to parse (docs/limits.md)
MAX_VALUE_LENGTH = 1000
_DIGITS = re.compile(r"[0-9]+")
# "0 (1)" is a key that lost its colon, not a value (no value has a number then "("): it is
# read as keys, whose error asks for the ':'.
_KEY_WITHOUT_COLON = re.compile(r"\s*[0-9]+\s*\(")


@dataclass(frozen=True)
class CurveKey:
    """One key: from ``frame`` on the curve follows ``expression``.

    ``depends_on_variables`` is True when the expression reads ``t`` or a caller's variable
    (``pi`` and ``e`` are constants). ``line`` and ``column`` (1-based) locate the value's
    first character in the curve text; ``variables`` are the names it reads. Only ``frame``,
    ``expression`` and ``depends_on_variables`` take part in comparisons.
    """

    frame: int
    expression: str
    depends_on_variables: bool
    line: int = field(default=0, compare=False)
    column: int = field(default=0, compare=False)
    variables: frozenset[str] = field(default=frozenset(), compare=False)
    _program: tuple[Instruction, ...] = field(default=(), repr=False, compare=False)
    _constant: float = field(default=math.nan, repr=False, compare=False)


@dataclass(frozen=True)
class Curve:
    """A parsed curve: keys sorted by frame (at least one, frames unique) and its source text."""

    keys: tuple[CurveKey, ...]
    text: str = ""
    _frames: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = tuple(self.keys)
        frames = tuple(k.frame for k in keys)
        if not keys:
            raise ValueError("a curve needs at least one key")
        if any(a >= b for a, b in zip(frames, frames[1:], strict=False)):
            raise ValueError(f"curve keys must be sorted by frame with no repeats, got {frames}")
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "_frames", frames)

    def values(
        self, n_frames: int, variables: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray:
        """The curve on frames ``0 .. n_frames - 1``: float64, shape ``(n_frames,)``, finite.

        ``variables`` maps each variable the curve was parsed with (other than ``t``, which
        is always the frame index) to an array of shape ``(n_frames,)``; names the curve does
        not use are ignored. Raises ``CurveError`` when a value is not finite or a key needs a
        variable that was not given (or, when interpolating towards a key beyond the last
        frame, a variable there); ``ValueError`` for a negative ``n_frames``, an array of the
        wrong shape, or a variable named ``t``.
        """
        if isinstance(n_frames, bool) or not isinstance(n_frames, int | np.integer):
            raise ValueError(f"n_frames must be an int, got {n_frames!r}")
        n_frames = int(n_frames)
        if n_frames < 0:
            raise ValueError(f"n_frames must not be negative, got {n_frames}")
        arrays = {}
        for name, array in (variables or {}).items():
            if name == "t":
                raise ValueError("'t' is always the frame index; do not pass it as a variable")
            arrays[name] = np.asarray(array, dtype=np.float64)
            if arrays[name].shape != (n_frames,):
                raise ValueError(
                    f"variable {name!r} must have shape ({n_frames},), got {arrays[name].shape}"
                )

        def at(frame: int) -> dict[str, np.ndarray] | None:
            return (
                {k: v[frame : frame + 1] for k, v in arrays.items()} if frame < n_frames else None
            )

        frames = np.arange(n_frames, dtype=np.float64)
        out = np.empty(n_frames, dtype=np.float64)
        first = self.keys[0]
        if first.frame > 0 and n_frames > 0:
            out[: min(first.frame, n_frames)] = _point(first, first.frame, at)
        for i, key in enumerate(self.keys):
            start = key.frame
            if start >= n_frames:
                break
            following = self.keys[i + 1] if i + 1 < len(self.keys) else None
            stop = n_frames if following is None else min(following.frame, n_frames)
            if key.depends_on_variables:
                sliced = {k: v[start:stop] for k, v in arrays.items()}
                out[start:stop] = _evaluate(key, frames[start:stop], sliced)
            elif following is None:
                out[start:stop] = key._constant
            else:
                end = _point(following, following.frame, at)
                u = (frames[start:stop] - start) / (following.frame - start)
                # (1-u)*a + u*b stays finite for finite a and b, unlike a + u*(b-a).
                out[start:stop] = (1.0 - u) * key._constant + u * end
        return out

    def value_at(self, frame: int, variables: Mapping[str, float] | None = None) -> float:
        """The curve at one frame; the same number ``values()`` gives there.

        ``variables`` are the caller's variables at ``frame`` only, so a key that needs them
        at another frame (the next key, when interpolating towards it; the first key, before
        it) raises ``CurveError``: use ``values()`` for such curves. Other errors as ``values``.
        """
        if isinstance(frame, bool) or not isinstance(frame, int | np.integer) or frame < 0:
            raise ValueError(f"frame must be a non-negative int, got {frame!r}")
        frame = int(frame)
        given = {}
        for name, value in (variables or {}).items():
            if name == "t":
                raise ValueError("'t' is always the frame index; do not pass it as a variable")
            given[name] = np.array([float(value)], dtype=np.float64)

        def at(wanted: int) -> dict[str, np.ndarray] | None:
            return given if wanted == frame else None

        i = bisect.bisect_right(self._frames, frame) - 1
        if i < 0:
            return _point(self.keys[0], self.keys[0].frame, at)
        key = self.keys[i]
        if key.depends_on_variables or i + 1 == len(self.keys):
            return _point(key, frame, at)
        following = self.keys[i + 1]
        end = _point(following, following.frame, at)
        u = (frame - key.frame) / (following.frame - key.frame)
        return float((1.0 - u) * key._constant + u * end)


def parse_curve(text: str, names: tuple[str, ...] = ("t",)) -> Curve:
    """Read a curve (syntax in the module docstring).

    ``names`` are the variables values may use; ``t`` (the frame index) is always allowed.
    Raises ``CurveError`` (1-based line and column) for any problem in ``text``, and
    ``ValueError`` for a bad ``names`` (not an identifier, or a constant or function name).
    """
    if not isinstance(text, str):
        raise TypeError(f"curve text must be a str, got {type(text).__name__}")
    allowed = check_names(names)
    locate = Locator(text)
    if len(text) > MAX_TEXT_LENGTH:
        raise CurveError(
            f"the curve is {len(text)} characters long; the limit is {MAX_TEXT_LENGTH}", 1, 1
        )
    if ":" not in text and text.strip() and not _KEY_WITHOUT_COLON.match(text):
        return Curve((_bare_key(text, allowed, locate),), text)
    keys: list[CurveKey] = []
    where_of_frame: dict[int, tuple[int, int]] = {}
    pos = _skip_space(text, 0)
    while pos < len(text):
        frame_pos = pos
        frame = _read_frame(text, pos, locate)
        if frame in where_of_frame:
            line, column = where_of_frame[frame]
            raise CurveError(
                f"frame {frame} has two keys; the first is at line {line}, column {column}",
                *locate(frame_pos),
            )
        where_of_frame[frame] = locate(frame_pos)
        pos = _skip_space(text, _DIGITS.match(text, pos).end())  # type: ignore[union-attr]
        if pos >= len(text) or text[pos] != ":":
            raise CurveError(
                f"expected ':' after frame {frame}, got {_got(text, pos)}", *locate(pos)
            )
        pos = _skip_space(text, pos + 1)
        if pos >= len(text) or text[pos] != "(":
            raise CurveError(
                f"expected '(' to start the value of frame {frame}, e.g. '{frame}: (1.0)', "
                f"got {_got(text, pos)}",
                *locate(pos),
            )
        close = _matching_paren(text, pos, locate)
        keys.append(_compile_key(frame, text, pos + 1, close, allowed, locate))
        pos = _skip_space(text, close + 1)
        if pos < len(text):
            if text[pos] != ",":
                raise CurveError(f"expected ',' between keys, got {_got(text, pos)}", *locate(pos))
            pos = _skip_space(text, pos + 1)
    if not keys:
        raise CurveError("the curve has no keys; write e.g. '0: (1.0), 30: (1.05)'", 1, 1)
    keys.sort(key=lambda k: k.frame)
    return Curve(tuple(keys), text)


@contextlib.contextmanager
def naming_curve(field_name: str) -> Iterator[None]:
    """Raise a ``CurveError`` from the block again with ``field_name`` before its reason
    (``curve line 1, column 4: zoom: ...``): a line and column alone do not say which of a
    spec's curves they are in."""
    try:
        yield
    except CurveError as exc:
        raise CurveError(f"{field_name}: {exc.reason}", exc.line, exc.column, exc.source) from None


# -- reading the text ----------------------------------------------------------------------


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _got(text: str, pos: int) -> str:
    return "the end of the text" if pos >= len(text) else repr(text[pos])


def _read_frame(text: str, pos: int, locate: Locator) -> int:
    match = _DIGITS.match(text, pos)
    if match is None:
        if text[pos] == "-" and _DIGITS.match(text, pos + 1):
            raise CurveError("frame must not be negative", *locate(pos))
        raise CurveError(f"expected a frame number, got {_got(text, pos)}", *locate(pos))
    digits = match.group().lstrip("0") or "0"
    # Length first: int() refuses more than 4300 digits, and such a number is too large anyway.
    if len(digits) > len(str(MAX_FRAME)) or int(digits) > MAX_FRAME:
        shown = digits if len(digits) <= 20 else digits[:20] + "..."
        raise CurveError(f"frame {shown} is larger than the limit {MAX_FRAME}", *locate(pos))
    return int(digits)


def _matching_paren(text: str, open_pos: int, locate: Locator) -> int:
    """The offset of the ')' that closes the '(' at ``open_pos``, looking no further than a
    value may be long."""
    depth = 0
    limit = min(len(text), open_pos + MAX_VALUE_LENGTH + 2)
    for pos in range(open_pos, limit):
        char = text[pos]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return pos
    if limit < len(text):
        raise CurveError(
            f"this value is longer than {MAX_VALUE_LENGTH} characters", *locate(open_pos)
        )
    raise CurveError("'(' is never closed", *locate(open_pos))


def _bare_key(text: str, allowed: frozenset[str], locate: Locator) -> CurveKey:
    """The one key at frame 0 that a bare value (the whole ``text``, no parentheses needed)
    stands for; parsed in place, so errors point into ``text`` itself."""
    first = _skip_space(text, 0)
    if len(text.strip()) > MAX_VALUE_LENGTH:
        raise CurveError(f"this value is longer than {MAX_VALUE_LENGTH} characters", *locate(first))
    return _compile_key(0, text, 0, len(text), allowed, locate)


def _compile_key(
    frame: int, text: str, start: int, stop: int, allowed: frozenset[str], locate: Locator
) -> CurveKey:
    """Parse the value ``text[start:stop]`` (inside the parentheses) into a key."""
    first = _skip_space(text, start)
    if first >= stop:
        raise CurveError(f"the value of frame {frame} is empty", *locate(stop))
    program = compile_value(text, start, stop, allowed, locate)
    variables = variables_of(program)
    line, column = locate(first)
    key = CurveKey(
        frame=frame,
        expression=text[start:stop].strip(),
        depends_on_variables=bool(variables),
        line=line,
        column=column,
        variables=variables,
        _program=program,
    )
    if variables:
        return key
    # Constants are evaluated now: the error shows while typing, and interpolation is cheap.
    value = float(_evaluate(key, np.zeros(1), {})[0])
    object.__setattr__(key, "_constant", value)
    return key


# -- evaluating ----------------------------------------------------------------------------


def _evaluate(key: CurveKey, frames: np.ndarray, variables: Mapping[str, np.ndarray]) -> np.ndarray:
    """``key``'s value at ``frames`` (float64 array), with ``variables`` sliced to match.

    Raises ``CurveError`` at the key's value when a variable is missing or a result is not a
    finite number.
    """
    where = (key.line, key.column)
    for name in sorted(key.variables - {"t"}):
        if name not in variables:
            raise CurveError(
                f"the value of frame {key.frame} uses {name!r}, but no values of {name!r} "
                "were given",
                *where,
            )
    with np.errstate(all="ignore"):
        result = run_program(
            key._program, frames, variables, what=f"the value of frame {key.frame}", where=where
        )
        result = np.broadcast_to(np.asarray(result, dtype=np.float64), frames.shape)
    finite = np.isfinite(result)
    if not finite.all():
        bad = int(np.argmin(finite))
        at_frame = f" at frame {int(frames[bad])}" if key.depends_on_variables else ""
        raise CurveError(
            f"the value of frame {key.frame} is {result[bad]}{at_frame}; "
            "values must be finite numbers",
            *where,
        )
    return result


def _point(
    key: CurveKey, frame: int, at: Callable[[int], Mapping[str, np.ndarray] | None]
) -> float:
    """``key``'s value at one ``frame``; ``at(frame)`` gives the caller's variables there,
    or None where they are not known."""
    if not key.depends_on_variables:
        return key._constant
    variables = at(frame)
    if variables is None:
        needed = sorted(key.variables - {"t"})
        if needed:
            raise CurveError(
                f"the value of frame {key.frame} uses {needed[0]!r}, which is not known at "
                f"frame {frame}",
                key.line,
                key.column,
            )
        variables = {}
    return float(_evaluate(key, np.array([float(frame)]), variables)[0])
