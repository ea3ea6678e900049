"""The expression language inside a curve's values: tokenizer, parser and stack machine.

An expression is numbers, variables, the constants ``CONSTANTS``, the operators
``+ - * / % **`` with Python's precedence (``**`` binds tighter than unary minus), parentheses
and the functions ``FUNCTIONS`` (the full syntax is in ``studio.languages.curves``).
``compile_value`` reads one value into a program for a small stack machine; ``run_program``
executes it over numpy float64 arrays, so evaluating never recurses and never calls Python's
``eval``. Nesting is bounded by ``MAX_DEPTH`` and exponents by ``MAX_EXPONENT``.

Every problem raises ``CurveError`` with the 1-based line and column in the whole text, found
by a ``Locator`` of that text.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Callable, Mapping
from functools import reduce

import numpy as np

from studio.errors import CurveError

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "Instruction",
    "Locator",
    "check_names",
    "compile_value",
    "run_program",
    "variables_of",
]

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
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>\*\*|[-+*/%(),])
    """,
    re.VERBOSE,
)
# One instruction of the stack machine: ("num", value) | ("var", name) | ("neg",)
# | ("bin", operator, offset) | ("call", name, argument count). Offsets locate errors.
Instruction = tuple


class Locator:
    """Turns an offset into the text into a 1-based (line, column)."""

    def __init__(self, text: str) -> None:
        self._starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]

    def __call__(self, offset: int) -> tuple[int, int]:
        index = bisect.bisect_right(self._starts, offset) - 1
        return index + 1, offset - self._starts[index] + 1


def check_names(names: tuple[str, ...]) -> frozenset[str]:
    """The names a value may read: ``names`` and ``t``. Raises ``ValueError`` for a name that
    is not an identifier or is a constant or function."""
    if isinstance(names, str):
        raise ValueError(f"names must be a tuple of names, got the string {names!r}")
    for name in names:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValueError(f"variable names must be identifiers, got {name!r}")
        if name in CONSTANTS or name in FUNCTIONS:
            raise ValueError(f"{name!r} is a constant or function; it cannot be a variable")
    return frozenset(names) | {"t"}


def compile_value(
    text: str, start: int, stop: int, allowed: frozenset[str], locate: Locator
) -> tuple[Instruction, ...]:
    """The program of the expression ``text[start:stop]``, which may read the variables
    ``allowed``. Raises ``CurveError`` located by ``locate`` for anything it cannot read."""
    tokens = _tokenize(text, start, stop, locate)
    return tuple(_Parser(tokens, stop, allowed, locate).parse())


def variables_of(program: tuple[Instruction, ...]) -> frozenset[str]:
    """The variable names a program reads (``t`` included when it does)."""
    return frozenset(ins[1] for ins in program if ins[0] == "var")


def _tokenize(text: str, start: int, stop: int, locate: Locator) -> list[tuple[str, str, int]]:
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
        locate: Locator,
    ) -> None:
        self.tokens = tokens
        self.index = 0
        self.end = end  # offset of the closing ')', where "unexpected end" errors point
        self.allowed = allowed
        self.locate = locate
        self.depth = 0
        self.program: list[Instruction] = []

    def parse(self) -> list[Instruction]:
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


def run_program(
    program: tuple[Instruction, ...],
    frames: np.ndarray,
    variables: Mapping[str, np.ndarray],
    *,
    what: str,
    where: tuple[int, int],
) -> np.ndarray:
    """Execute ``program`` with ``t = frames`` and the caller's ``variables`` (arrays that
    broadcast with ``frames``); the result may be a scalar or hold non-finite values (the
    caller checks). Raises ``CurveError`` at ``where`` (line, column), naming ``what`` (e.g.
    "the value of frame 30"), for an exponent beyond ``MAX_EXPONENT``."""
    stack: list[np.ndarray] = []
    for instruction in program:
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
                    f"an exponent in {what} is larger than {MAX_EXPONENT:g} in magnitude",
                    *where,
                )
            stack.append(_BINARY[instruction[1]](left, right))
        else:
            count = instruction[2]
            arguments = stack[-count:]
            del stack[-count:]
            stack.append(FUNCTIONS[instruction[1]][2](*arguments))
    (result,) = stack
    return result
