"""The prompt list of a blend movie as the dashboard's user types it. Pure and torch-free.

One prompt per line, in the order the movie visits them::

    # blank lines and lines starting with '#' are ignored
    a red circle on a black background
    [seed=42] a blue square on a black background
    a green star | negative: blurry

- ``[seed=N]`` before the prompt gives that keyframe its own seed (default: the base seed
  plus the keyframe's index, ``studio.blend.plan``);
- ``| negative: TEXT`` after it gives that keyframe its own negative prompt (``| negative:``
  with nothing after it: none for this keyframe, whatever the default is);
- brackets of compel's weighting syntax must pair up in both (``studio.languages.brackets``).

``format_prompt_lines`` writes keyframes back in this form, so that "restore settings" shows
a recorded spec in the page: ``parse_prompt_lines(format_prompt_lines(k)) == k``.
"""

from __future__ import annotations

import re

from studio.errors import PromptListError
from studio.languages.brackets import unmatched_bracket
from studio.spec.blend import BlendKeyframe

__all__ = ["format_prompt_lines", "parse_prompt_lines"]

_NEGATIVE = re.compile(r"\|\s*negative\s*:", re.IGNORECASE)
_SEED = re.compile(r"seed\s*=\s*(\d+)\s*$")
_MAX_SEED = 2**63 - 1


def parse_prompt_lines(text: str) -> tuple[BlendKeyframe, ...]:
    """The keyframes ``text`` lists (see the module docstring).

    Raises ``PromptListError`` naming the line and column of anything it cannot read: an
    unclosed or unknown ``[...]`` option, a seed out of range, an empty prompt, a ``(`` or
    ``)`` without its partner. Fewer than two prompts is not an error here; the spec's check
    says so.
    """
    keyframes = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        start = len(line) - len(line.lstrip())
        body, seed = line[start:], None
        if body.startswith("["):
            close = body.find("]")
            if close < 0:
                raise PromptListError(
                    "'[' is never closed; options look like '[seed=42] a prompt'",
                    number,
                    start + 1,
                )
            match = _SEED.match(body[1:close].strip())
            if match is None:
                raise PromptListError(
                    f"unknown option {body[1:close].strip()!r}; the only option is [seed=N]",
                    number,
                    start + 2,
                )
            seed = int(match.group(1))
            if seed > _MAX_SEED:
                raise PromptListError(
                    f"seed must be between 0 and 2**63 - 1, got {seed}", number, start + 2
                )
            start += close + 1
            body = line[start:]
        negative = None
        split = _NEGATIVE.search(body)
        if split is not None:
            negative = body[split.end() :]
            body = body[: split.start()]
        prompt = body.strip()
        if not prompt:
            raise PromptListError("the prompt is empty", number, start + 1)
        _check_brackets(body, number, start)
        if split is not None:
            _check_brackets(negative, number, start + split.end())
            negative = negative.strip()
        keyframes.append(BlendKeyframe(prompt, seed=seed, negative=negative))
    return tuple(keyframes)


def _check_brackets(text: str, number: int, offset: int) -> None:
    """A ``PromptListError`` at the first bracket of ``text`` (which starts at ``offset`` of
    line ``number``) that has no partner."""
    found = unmatched_bracket(text)
    if found is not None:
        raise PromptListError(found[1], number, offset + found[0] + 1)


def format_prompt_lines(keyframes: tuple[BlendKeyframe, ...] | list[BlendKeyframe]) -> str:
    """The text that ``parse_prompt_lines`` reads back as ``keyframes``, one line each."""
    lines = []
    for key in keyframes:
        line = key.prompt if key.seed is None else f"[seed={key.seed}] {key.prompt}"
        if key.negative is not None:
            line += f" | negative: {key.negative}".rstrip()
        lines.append(line)
    return "\n".join(lines)
