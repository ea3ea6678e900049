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
machine over numpy float64 arrays; no Python ``eval``. Nesting is limited to 50 levels,
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
from functools import reduce

import numpy as np

from studio.errors import CurveError
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

MAX_TEXT_LENGTH = 1_000_000
MAX_VALUE_LENGTH = 1000
MAX_DEPTH = 50
# Values are float64, so a big exponent cannot hang anything (it overflows to inf, which is
# reported); the cap turns towers like 9**9**9 into a clear message. It is far above any frame
# index so that slow exponentials such as 1.0001**t work on every frame.
MAX_EXPONENT = 1e6

CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def _clamp(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.minimum(np.maximum(x, lo), hi)


# name -> (fewest arguments, most arguments or None for any number, numpy implementation)
FUNCTIONS: dict[str, tuple[int, int | None, Callable[..., np.ndarray]]] = {
    "sin": (1, 1, np.sin),
    "cos": (1, 1, np.cos),
    "tan": (1, 1, np.tan),
    "asin": (1, 1, np.arcsin),
    "acos": (1, 1, np.arccos),
    "atan": (1, 1, np.arctan),
    "abs": (1, 1, np.abs),
    "sqrt": (1, 1, np.sqrt),
    "exp": (1, 1, np.exp),
    "log": (1, 1, np.log),
    "log10": (1, 1, np.log10),
    "floor": (1, 1, np.floor),
    "ceil": (1, 1, np.ceil),
    "round": (1, 1, np.round),
    "min": (2, None, lambda *xs: reduce(np.minimum, xs)),
    "max": (2, None, lambda *xs: reduce(np.maximum, xs)),
    "clamp": (3, 3, _clamp),
}

_BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.true_divide,
    "%": np.mod,
    "**": np.power,
}

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DIGITS = re.compile(r"[0-9]+")
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>\*\*|[-+*/%(),])
    """,
    re.VERBOSE,
)
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# "0 (1)" is a key that lost its colon, not a value (no value has a number then "("): it is
# read as keys, whose error asks for the ':'.
_KEY_WITHOUT_COLON = re.compile(r"\s*[0-9]+\s*\(")

# One instruction of the stack machine: ("num", value) | ("var", name) | ("neg",)
# | ("bin", operator, offset) | ("call", name, argument count). Offsets locate errors.
_Instruction = tuple


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
    _program: tuple[_Instruction, ...] = field(default=(), repr=False, compare=False)
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
    allowed = _check_names(names)
    locate = _Locator(text)
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


class _Locator:
    """Turns an offset into the text into a 1-based (line, column)."""

    def __init__(self, text: str):
        self._starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]

    def __call__(self, offset: int) -> tuple[int, int]:
        index = bisect.bisect_right(self._starts, offset) - 1
        return index + 1, offset - self._starts[index] + 1


def _check_names(names: tuple[str, ...]) -> frozenset[str]:
    if isinstance(names, str):
        raise ValueError(f"names must be a tuple of names, got the string {names!r}")
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"variable names must be identifiers, got {name!r}")
        if name in CONSTANTS or name in FUNCTIONS:
            raise ValueError(f"{name!r} is a constant or function; it cannot be a variable")
    return frozenset(names) | {"t"}


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _got(text: str, pos: int) -> str:
    return "the end of the text" if pos >= len(text) else repr(text[pos])


def _read_frame(text: str, pos: int, locate: _Locator) -> int:
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


def _matching_paren(text: str, open_pos: int, locate: _Locator) -> int:
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


def _bare_key(text: str, allowed: frozenset[str], locate: _Locator) -> CurveKey:
    """The one key at frame 0 that a bare value (the whole ``text``, no parentheses needed)
    stands for; parsed in place, so errors point into ``text`` itself."""
    first = _skip_space(text, 0)
    if len(text.strip()) > MAX_VALUE_LENGTH:
        raise CurveError(f"this value is longer than {MAX_VALUE_LENGTH} characters", *locate(first))
    return _compile_key(0, text, 0, len(text), allowed, locate)


def _compile_key(
    frame: int, text: str, start: int, stop: int, allowed: frozenset[str], locate: _Locator
) -> CurveKey:
    """Parse the value ``text[start:stop]`` (inside the parentheses) into a key."""
    first = _skip_space(text, start)
    if first >= stop:
        raise CurveError(f"the value of frame {frame} is empty", *locate(stop))
    tokens = _tokenize(text, start, stop, locate)
    parser = _Parser(tokens, stop, allowed, locate)
    program = parser.parse()
    variables = frozenset(ins[1] for ins in program if ins[0] == "var")
    line, column = locate(first)
    key = CurveKey(
        frame=frame,
        expression=text[start:stop].strip(),
        depends_on_variables=bool(variables),
        line=line,
        column=column,
        variables=variables,
        _program=tuple(program),
    )
    if variables:
        return key
    # Constants are evaluated now: the error shows while typing, and interpolation is cheap.
    value = float(_evaluate(key, np.zeros(1), {})[0])
    object.__setattr__(key, "_constant", value)
    return key


def _tokenize(text: str, start: int, stop: int, locate: _Locator) -> list[tuple[str, str, int]]:
    """(kind, text, offset) for each token of ``text[start:stop]``; blanks dropped."""
    tokens = []
    pos = start
    while pos < stop:
        match = _TOKEN.match(text, pos, stop)
        if match is None:
            raise CurveError(f"unexpected character {text[pos]!r}", *locate(pos))
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            tokens.append((kind, match.group(), pos))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens of one value, emitting stack-machine code.

    Grammar (Python's precedence)::

        sum     := product (("+" | "-") product)*
        product := unary (("*" | "/" | "%") unary)*
        unary   := ("+" | "-") unary | power
        power   := primary ("**" unary)?
        primary := NUMBER | NAME | NAME "(" [sum ("," sum)*] ")" | "(" sum ")"
    """

    def __init__(
        self,
        tokens: list[tuple[str, str, int]],
        end: int,
        allowed: frozenset[str],
        locate: _Locator,
    ):
        self.tokens = tokens
        self.index = 0
        self.end = end  # offset of the closing ')', where "unexpected end" errors point
        self.allowed = allowed
        self.locate = locate
        self.depth = 0
        self.program: list[_Instruction] = []

    def parse(self) -> list[_Instruction]:
        self.sum()
        if self.index < len(self.tokens):
            kind, token, offset = self.tokens[self.index]
            raise CurveError(f"expected an operator, got {token!r}", *self.locate(offset))
        return self.program

    # token helpers

    def peek_op(self) -> str | None:
        if self.index < len(self.tokens) and self.tokens[self.index][0] == "op":
            return self.tokens[self.index][1]
        return None

    def fail_here(self, expected: str) -> CurveError:
        if self.index < len(self.tokens):
            _, token, offset = self.tokens[self.index]
            return CurveError(f"expected {expected}, got {token!r}", *self.locate(offset))
        return CurveError(f"expected {expected}, got the end of the value", *self.locate(self.end))

    def expect(self, op: str) -> None:
        if self.peek_op() != op:
            raise self.fail_here(repr(op))
        self.index += 1

    # grammar

    def sum(self) -> None:
        self.product()
        while (op := self.peek_op()) in ("+", "-"):
            offset = self.tokens[self.index][2]
            self.index += 1
            self.product()
            self.program.append(("bin", op, offset))

    def product(self) -> None:
        self.unary()
        while (op := self.peek_op()) in ("*", "/", "%"):
            offset = self.tokens[self.index][2]
            self.index += 1
            self.unary()
            self.program.append(("bin", op, offset))

    def unary(self) -> None:
        # Every level of nesting (parentheses, call arguments, signs, exponents) passes
        # through here, so this one counter bounds the recursion.
        self.depth += 1
        if self.depth > MAX_DEPTH:
            offset = self.tokens[self.index][2] if self.index < len(self.tokens) else self.end
            raise CurveError(
                f"the value is nested more than {MAX_DEPTH} levels deep", *self.locate(offset)
            )
        op = self.peek_op()
        if op in ("+", "-"):
            self.index += 1
            self.unary()
            if op == "-":
                self.program.append(("neg",))
        else:
            self.power()
        self.depth -= 1

    def power(self) -> None:
        self.primary()
        if self.peek_op() == "**":
            offset = self.tokens[self.index][2]
            self.index += 1
            self.unary()
            self.program.append(("bin", "**", offset))

    def primary(self) -> None:
        if self.index >= len(self.tokens):
            raise self.fail_here("a number, a name or '('")
        kind, token, offset = self.tokens[self.index]
        if kind == "number":
            self.index += 1
            self.program.append(("num", float(token)))
        elif kind == "name":
            self.index += 1
            if self.peek_op() == "(":
                self.call(token, offset)
            elif token in CONSTANTS:
                self.program.append(("num", CONSTANTS[token]))
            elif token in self.allowed:
                self.program.append(("var", token))
            elif token in FUNCTIONS:
                raise CurveError(
                    f"{token!r} is a function; call it, e.g. {token}(t)", *self.locate(offset)
                )
            else:
                raise CurveError(self.unknown(token), *self.locate(offset))
        elif token == "(":
            self.index += 1
            self.sum()
            self.expect(")")
        else:
            raise self.fail_here("a number, a name or '('")

    def call(self, name: str, offset: int) -> None:
        if name not in FUNCTIONS:
            if name in self.allowed or name in CONSTANTS:
                raise CurveError(f"{name!r} is not a function", *self.locate(offset))
            raise CurveError(self.unknown(name), *self.locate(offset))
        self.index += 1  # the "("
        count = 0
        if self.peek_op() != ")":
            self.sum()
            count = 1
            while self.peek_op() == ",":
                self.index += 1
                self.sum()
                count += 1
        self.expect(")")
        fewest, most, _ = FUNCTIONS[name]
        if count < fewest or (most is not None and count > most):
            wanted = (
                f"{fewest}"
                if fewest == most
                else f"at least {fewest}"
                if most is None
                else f"{fewest} to {most}"
            )
            raise CurveError(
                f"{name}() takes {wanted} argument{'s' if wanted != '1' else ''}, got {count}",
                *self.locate(offset),
            )
        self.program.append(("call", name, count))

    def unknown(self, name: str) -> str:
        variables = ", ".join(sorted(self.allowed))
        return (
            f"unknown name {name!r}; a value may use the variables {variables}, the constants "
            f"pi and e, and the functions {', '.join(FUNCTIONS)}"
        )


# -- evaluating ----------------------------------------------------------------------------


def _run(
    key: CurveKey, frames: np.ndarray, variables: Mapping[str, np.ndarray], locate_key: tuple
) -> np.ndarray:
    """Execute a key's program; a stack machine, so evaluation never recurses."""
    stack: list[np.ndarray] = []
    for instruction in key._program:
        kind = instruction[0]
        if kind == "num":
            stack.append(np.float64(instruction[1]))
        elif kind == "var":
            name = instruction[1]
            stack.append(frames if name == "t" else variables[name])
        elif kind == "neg":
            stack[-1] = np.negative(stack[-1])
        elif kind == "bin":
            right = stack.pop()
            left = stack.pop()
            if instruction[1] == "**" and np.any(np.abs(right) > MAX_EXPONENT):
                raise CurveError(
                    f"an exponent in the value of frame {key.frame} is larger than "
                    f"{MAX_EXPONENT:g} in magnitude",
                    *locate_key,
                )
            stack.append(_BINARY[instruction[1]](left, right))
        else:
            count = instruction[2]
            arguments = stack[-count:]
            del stack[-count:]
            stack.append(FUNCTIONS[instruction[1]][2](*arguments))
    (result,) = stack
    return result


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
        result = _run(key, frames, variables, where)
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
