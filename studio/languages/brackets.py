"""Brackets in prompts: every ``(`` of compel's weighting syntax needs its ``)``.

compel reads ``(red)1.2``, ``(red)++`` and ``("a", "b").blend(0.5, 0.5)``. With a bracket
missing it does not fail: the whole prompt quietly becomes plain text, weights and all, or a
stray bracket is drawn as a word. So prompts are checked when they are read (schedule, blend
prompt list, spec check), where the error can say where the bracket is.

Brackets that are text, as compel reads them, are not counted:

- ``\\(`` and ``\\)``: compel's escapes for a literal bracket;
- anything between a ``"`` and the next unescaped ``"`` (``("a ( cat", "a dog").blend(...)``);
  a ``"`` with no partner after it (``a 12" record``) is an ordinary character.

Pure and torch-free: the dashboard and the parsers import it.
"""

from __future__ import annotations

__all__ = ["unmatched_bracket"]

_HINT = r"write \( or \) for a bracket that is only text"


def unmatched_bracket(text: str) -> tuple[int, str] | None:
    """The first bracket of ``text`` that has no partner, or None when they all pair up.

    Returns ``(offset, reason)``: the 0-based offset of the bracket in ``text`` and a message
    for the user. A ``)`` with nothing open is reported where it stands; a ``(`` still open
    at the end is reported at the last such ``(`` (the innermost, the one a ``)`` was meant
    to close first).
    """
    open_at: list[int] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "\\" and text[pos + 1 : pos + 2] in ("(", ")", '"'):
            pos += 2
            continue
        if char == '"':
            close = _closing_quote(text, pos + 1)
            if close is not None:
                pos = close + 1
                continue
        elif char == "(":
            open_at.append(pos)
        elif char == ")":
            if not open_at:
                return pos, f"')' closes nothing; {_HINT}"
            open_at.pop()
        pos += 1
    if open_at:
        return open_at[-1], f"'(' is never closed; {_HINT}"
    return None


def _closing_quote(text: str, start: int) -> int | None:
    """The offset of the next ``"`` from ``start`` that is not escaped as ``\\"``."""
    pos = start
    while pos < len(text):
        if text[pos] == "\\":
            pos += 2
            continue
        if text[pos] == '"':
            return pos
        pos += 1
    return None
