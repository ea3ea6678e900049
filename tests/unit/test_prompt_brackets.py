"""Unmatched brackets in prompts are errors with a line and column, wherever prompts are typed.

compel reads ``(red)1.2`` as a weight; with a bracket missing it silently treats the whole
prompt as plain text. The schedule, the blend prompt list, the negative prompts and the
blend spec's prompts all refuse one, naming where it is.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.errors import PromptListError, ScheduleError, TextError
from studio.languages.brackets import unmatched_bracket
from studio.languages.schedule import Keyframe, PromptSchedule, format_schedule, parse_schedule
from studio.spec import (
    AnimationSpec,
    BlendKeyframe,
    BlendPromptSettings,
    BlendSpec,
    PromptSettings,
)
from studio.spec.prompt_list import parse_prompt_lines
from tests.support.run_cli import studio

BALANCED = [
    "a red circle",
    "a (red)1.2 circle",
    "a (red)++ circle, (blue)--",
    "(red:1.3)",
    "((a (b) c)1.1 d)0.9",
    '("a cat", "a dog").blend(0.5, 0.5)',
    '("a ( cat", "a dog").blend(0.5, 0.5)',  # brackets inside quotes are text
    r"a \(red circle",  # compel's escape: a bracket that is only text
    r"a red\) circle",
    'a 12" vinyl (red)1.2',  # a lone quote is an ordinary character
]


@pytest.mark.parametrize("text", BALANCED)
def test_balanced_and_escaped_brackets_are_fine(text):
    assert unmatched_bracket(text) is None
    parse_schedule(f"0: {text} | negative: {text}")
    parse_prompt_lines(f"{text}\n{text} | negative: {text}")


@pytest.mark.parametrize(
    ("text", "offset", "words"),
    [
        ("a (red circle", 2, "'(' is never closed"),
        ("a red) circle", 5, "')' closes nothing"),
        ("((a)", 0, "'(' is never closed"),
        ("(a))", 3, "')' closes nothing"),
        ("a (b (c) d", 2, "'(' is never closed"),
        ('a "x" (y', 6, "'(' is never closed"),
        (r"a \(b) c", 5, "')' closes nothing"),
    ],
)
def test_the_unmatched_bracket_is_found(text, offset, words):
    found = unmatched_bracket(text)
    assert found is not None and found[0] == offset and words in found[1]
    assert r"\(" in found[1]  # says how to write a bracket that is only text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='ab ()"\\', max_size=30))
def test_a_reported_bracket_is_a_bracket_and_none_means_balanced(text):
    found = unmatched_bracket(text)
    if found is not None:
        assert text[found[0]] in "()"
    elif '"' not in text and "\\" not in text:
        depth = 0
        for char in text:
            depth += {"(": 1, ")": -1}.get(char, 0)
            assert depth >= 0
        assert depth == 0


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("0: a (red circle", 1, 6),
        ("0: a\n 12 [seed=3]:  a red) circle", 2, 21),
        ("0: a | negative: (blurry", 1, 18),
        ("negative: text)\n0: a", 1, 15),
    ],
)
def test_the_schedule_names_line_and_column(text, line, column):
    with pytest.raises(ScheduleError) as info:
        parse_schedule(text)
    assert (info.value.line, info.value.column) == (line, column), str(info.value)
    assert f"schedule line {line}, column {column}: " in str(info.value)


def test_a_schedule_with_an_unmatched_bracket_cannot_be_written():
    with pytest.raises(ValueError, match="cannot write the prompt of frame 0"):
        format_schedule(PromptSchedule((Keyframe(0, "a (red"),)))


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ("a red circle\n  [seed=4] a (blue square", 2, 14),
        ("a\nb | negative: blurry)", 2, 21),
    ],
)
def test_the_blend_prompt_list_names_line_and_column(text, line, column):
    with pytest.raises(PromptListError) as info:
        parse_prompt_lines(text)
    assert (info.value.line, info.value.column) == (line, column), str(info.value)


@pytest.mark.parametrize(
    ("spec", "shown"),
    [
        (
            AnimationSpec(prompts=PromptSettings(negative_prompt="blurry, (text")),
            "negative prompt line 1, column 9: '(' is never closed",
        ),
        (
            BlendSpec(
                prompts=BlendPromptSettings(
                    keyframes=(BlendKeyframe("a"), BlendKeyframe("b"), BlendKeyframe("c)"))
                )
            ),
            "prompts line 3, column 2: ')' closes nothing",
        ),
        (
            BlendSpec(
                prompts=BlendPromptSettings(
                    keyframes=(BlendKeyframe("a", negative="x (y"), BlendKeyframe("b"))
                )
            ),
            "prompts line 1, column 3: its negative prompt: '(' is never closed",
        ),
        (
            BlendSpec(prompts=BlendPromptSettings(negative_prompt="(x")),
            "negative prompt line 1, column 1: '(' is never closed",
        ),
    ],
)
def test_spec_checks_refuse_an_unmatched_bracket(spec, shown):
    with pytest.raises(TextError) as info:
        spec.check()
    assert str(info.value).startswith(shown), str(info.value)


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["animate", "--prompts", "0: a (red circle"], "schedule line 1, column 6"),
        (["animate", "--prompts", "0: a", "--negative", "x)"], "negative prompt line 1, column 2"),
        (["blend", "a (red", "b"], "prompts line 1, column 3"),
    ],
)
def test_the_cli_refuses_an_unmatched_bracket_in_one_line(tmp_path, args, shown):
    proc = studio(tmp_path / "home", *args, "--model", "builtin:tiny")
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {shown}: "), line
