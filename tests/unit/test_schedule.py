"""The prompt-schedule language: every syntax element, every error, and round trips."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.errors import ScheduleError
from studio.languages.schedule import (
    MAX_FRAME,
    MAX_SEED,
    Keyframe,
    PromptSchedule,
    format_schedule,
    parse_schedule,
)


def error_of(text: str) -> ScheduleError:
    with pytest.raises(ScheduleError) as info:
        parse_schedule(text)
    return info.value


# -- syntax --------------------------------------------------------------------------------


def test_keyframes_are_read_and_sorted():
    schedule = parse_schedule("24: a blue square\n0: a red circle\n")
    assert schedule.keyframes == (
        Keyframe(0, "a red circle"),
        Keyframe(24, "a blue square"),
    )
    assert [k.line for k in schedule.keyframes] == [2, 1]
    assert schedule.negative is None
    assert schedule.last_frame == 24
    assert schedule.frame_count == 25


def test_single_keyframe_not_at_zero():
    schedule = parse_schedule("10: late start")
    assert schedule.last_frame == 10
    assert schedule.frame_count == 11


def test_seed_option():
    (keyframe,) = parse_schedule("12 [seed=42]: a blue square").keyframes
    assert keyframe == Keyframe(12, "a blue square", seed=42)
    assert parse_schedule("12[ seed = 7 ]:x").keyframes[0].seed == 7
    assert parse_schedule(f"1 [seed={MAX_SEED}]: x").keyframes[0].seed == MAX_SEED
    assert parse_schedule("1 [seed=007]: x").keyframes[0].seed == 7


def test_empty_options_block_means_no_options():
    assert parse_schedule("3 [ ]: x").keyframes[0] == Keyframe(3, "x")


def test_per_keyframe_negative():
    (keyframe,) = parse_schedule("24: a green triangle | negative: red, blurry").keyframes
    assert keyframe.prompt == "a green triangle"
    assert keyframe.negative == "red, blurry"
    assert parse_schedule("0: a|negative:b").keyframes[0].negative == "b"
    assert parse_schedule("0: a |  negative  : b").keyframes[0].negative == "b"


def test_empty_per_keyframe_negative_means_none_here():
    assert parse_schedule("0: a | negative:").keyframes[0].negative == ""


def test_global_negative_line_anywhere():
    schedule = parse_schedule("0: a\nnegative: blurry, text\n5: b")
    assert schedule.negative == "blurry, text"
    assert [k.negative for k in schedule.keyframes] == [None, None]
    assert parse_schedule("negative :x\n0: a").negative == "x"
    assert parse_schedule("negative:\n0: a").negative == ""


def test_comments_and_blank_lines():
    text = "# title\n\n   # indented comment\n0: a red circle  # trailing\n\t\n5: C# and x#y\n"
    schedule = parse_schedule(text)
    assert [k.prompt for k in schedule.keyframes] == ["a red circle", "C# and x#y"]
    assert [k.line for k in schedule.keyframes] == [4, 6]
    assert parse_schedule("0:#hashtag").keyframes[0].prompt == "#hashtag"


def test_windows_and_old_mac_line_endings():
    schedule = parse_schedule("0: a\r\n5: b\r\n\r\n9: c\r10: d")
    assert [(k.frame, k.prompt, k.line) for k in schedule.keyframes] == [
        (0, "a", 1),
        (5, "b", 2),
        (9, "c", 4),
        (10, "d", 5),
    ]


def test_whitespace_is_stripped():
    (keyframe,) = parse_schedule("   7   :    spaced out   ").keyframes
    assert keyframe == Keyframe(7, "spaced out")


def test_prompt_keeps_colons_brackets_and_compel_syntax():
    text = '0 [seed=1]: a (red)1.2 cat: [big] blue++ ("a", "b").blend(0.5, 0.5) 12:30'
    (keyframe,) = parse_schedule(text).keyframes
    assert keyframe.prompt == 'a (red)1.2 cat: [big] blue++ ("a", "b").blend(0.5, 0.5) 12:30'
    assert keyframe.seed == 1


def test_leading_zeros_and_limit():
    assert parse_schedule("007: x").keyframes[0].frame == 7
    assert parse_schedule(f"{MAX_FRAME}: x").last_frame == MAX_FRAME


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("", 1, 1, "no keyframes"),
        ("# only a comment\n\n", 1, 1, "no keyframes"),
        ("negative: x", 1, 1, "no keyframes"),
        ("0 a red circle", 1, 3, "expected ':'"),
        ("\n  12", 2, 5, "expected ':' after frame 12, got the end"),
        ("x: a", 1, 1, "expected a frame number"),
        ("1.5: a", 1, 1, "'1.5'"),
        (": a", 1, 1, "expected a frame number"),
        ("0: a\n  -3: b", 2, 3, "must not be negative"),
        (f"{MAX_FRAME + 1}: a", 1, 1, "larger than the limit"),
        ("9" * 5000 + ": a", 1, 1, "larger than the limit"),
        ("0:", 1, 3, "empty prompt"),
        ("0:    # just a comment", 1, 3, "empty prompt"),
        ("0: | negative: x", 1, 3, "empty prompt"),
        ("0: a\n5: b\n0: c", 3, 1, "line 1 and line 3"),
        ("negative: a\n0: x\n  negative: b", 3, 3, "first is line 1"),
        ("0 [seed=-1]: a", 1, 9, "seed must be"),
        ("0 [seed=x]: a", 1, 9, "seed must be"),
        ("0 [seed=]: a", 1, 9, "seed must be"),
        (f"0 [seed={MAX_SEED + 1}]: a", 1, 9, "seed must be"),
        ("0 [seed=1, seed=2]: a", 1, 12, "twice"),
        ("0 [seed]: a", 1, 8, "expected '='"),
        ("0 [steps=3]: a", 1, 4, "unknown option 'steps'"),
        ("0 [seed=1,  strength=0.5]: a", 1, 13, "unknown option 'strength'"),
        ("0 [seed=1,]: a", 1, 11, "empty option"),
        ("0 [=1]: a", 1, 4, "option name"),
        ("0 [seed=1: a", 1, 3, "never closed"),
        ("0 [seed=1] a", 1, 12, "expected ':'"),
        ("0: a | negative: b | negative: c", 1, 20, "second '| negative:'"),
        ("negative: a | negative: b\n0: x", 1, 13, "belongs on a keyframe"),
    ],
)
def test_errors_name_line_and_column(text, line, column, words):
    error = error_of(text)
    assert (error.line, error.column) == (line, column), str(error)
    assert words in str(error)
    assert f"line {line}, column {column}" in str(error)


def test_duplicate_frame_names_both_lines_even_with_leading_zeros():
    error = error_of("# c\n4: a\n004: b")
    assert (error.line, error.column) == (3, 1)
    assert "frame 4" in error.reason and "line 2" in error.reason and "line 3" in error.reason


def test_long_garbage_token_is_shortened_in_the_message():
    error = error_of("x" * 10_000 + ": a")
    assert len(str(error)) < 200


# -- code-built schedules ------------------------------------------------------------------


def test_schedule_invariants_checked():
    with pytest.raises(ValueError):
        PromptSchedule(())
    with pytest.raises(ValueError):
        PromptSchedule((Keyframe(5, "a"), Keyframe(1, "b")))
    with pytest.raises(ValueError):
        PromptSchedule((Keyframe(1, "a"), Keyframe(1, "b")))
    with pytest.raises(ValueError):
        Keyframe(-1, "a")
    with pytest.raises(ValueError):
        Keyframe(0, "a", seed=2**63)


def test_line_is_not_compared():
    assert Keyframe(0, "a", line=3) == Keyframe(0, "a")


# -- formatting ----------------------------------------------------------------------------


def test_format_is_canonical():
    text = (
        "  5 [ seed = 9 ] :  b   |negative:  n  # c\n"
        "negative:   g\n"
        "0:#tag\n"
        "7: c | negative:\n"
        "8: d | negative:#x\n"
    )
    assert format_schedule(parse_schedule(text)) == (
        "negative: g\n0:#tag\n5 [seed=9]: b | negative: n\n7: c | negative:\n8: d | negative:#x\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        "0: a red circle\n24: a blue square",
        "negative: blurry\n0 [seed=3]: a: b [c] | negative: d\n9: (red)1.2 blue++",
        "negative:\n0: C# | negative:\n",
        "1: x|\n2: a | | negative: b\n3: y |negative",
    ],
)
def test_round_trip_examples(text):
    schedule = parse_schedule(text)
    assert parse_schedule(format_schedule(schedule)) == schedule


@pytest.mark.parametrize(
    "keyframe",
    [
        Keyframe(0, ""),
        Keyframe(0, " padded"),
        Keyframe(0, "two\nlines"),
        Keyframe(0, "a # comment"),
        Keyframe(0, "a | negative: b"),
        Keyframe(0, "a", negative="x\ty #"),
    ],
)
def test_format_refuses_what_cannot_be_read_back(keyframe):
    with pytest.raises(ValueError, match="cannot write"):
        format_schedule(PromptSchedule((keyframe,)))


# -- properties ----------------------------------------------------------------------------

_FRAGMENTS = [
    "0",
    "12",
    "007",
    "100001",
    "-3",
    ":",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "[",
    "]",
    "[seed=42]",
    "[seed=x]",
    "seed",
    "=",
    ",",
    "#",
    " #",
    "|",
    "| negative:",
    "negative:",
    "negative",
    "a red circle",
    "(red)1.2",
    "blue++",
    "é",
    "\x00",
    "\u2028",
    "\x85",
    "9" * 30,
]


@st.composite
def near_valid_schedules(draw) -> str:
    """Valid-looking lines with random fragments and junk spliced in."""
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        frame = draw(st.integers(0, 120))
        seed = draw(st.none() | st.integers(0, 10))
        prompt = draw(st.sampled_from(["a red circle", "b: c", "(x)1.5", "d++"]))
        line = f"{frame}{'' if seed is None else f' [seed={seed}]'}: {prompt}"
        if draw(st.booleans()):
            line += " | negative: " + draw(st.sampled_from(["", "blurry", "x y"]))
        lines.append(line)
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), "negative: n")
    text = "\n".join(lines)
    for _ in range(draw(st.integers(0, 4))):
        junk = draw(st.sampled_from(_FRAGMENTS) | st.text(max_size=3))
        at = draw(st.integers(0, len(text)))
        text = text[:at] + junk + text[at:]
    return text


def _check_any_text(text: str) -> None:
    try:
        schedule = parse_schedule(text)
    except ScheduleError as error:
        assert error.line >= 1 and error.column >= 1
        return
    assert isinstance(schedule, PromptSchedule)
    # Whatever parses can be written canonically and reads back the same.
    assert parse_schedule(format_schedule(schedule)) == schedule


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_parses_or_raises_schedule_error(text):
    _check_any_text(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid_schedules())
def test_near_valid_text_parses_or_raises_schedule_error(text):
    _check_any_text(text)


_WORDS = st.sampled_from(
    ["a", "red", "(red)1.2", "blue++", ":", "[seed=1]", "|", "negative", "#", "C#", "é", "0:"]
)
_PROMPTS = st.lists(_WORDS, min_size=1, max_size=5).map(" ".join) | st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"), min_size=1
)


def _readable(value: str, allow_empty: bool) -> bool:
    try:
        format_schedule(PromptSchedule((Keyframe(0, "x", negative=value),)))
    except ValueError:
        return False
    return allow_empty or bool(value)


@st.composite
def schedules(draw) -> PromptSchedule:
    frames = sorted(draw(st.sets(st.integers(0, MAX_FRAME), min_size=1, max_size=8)))
    keyframes = []
    for frame in frames:
        prompt = draw(_PROMPTS.filter(lambda p: _readable(p, allow_empty=False)))
        negative = draw(st.none() | _PROMPTS.filter(lambda p: _readable(p, True)) | st.just(""))
        seed = draw(st.none() | st.integers(0, MAX_SEED))
        keyframes.append(Keyframe(frame, prompt, negative=negative, seed=seed))
    negative = draw(st.none() | st.just("") | _PROMPTS.filter(lambda p: _readable(p, True)))
    return PromptSchedule(tuple(keyframes), negative)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(schedules())
def test_valid_schedules_round_trip(schedule):
    text = format_schedule(schedule)
    assert parse_schedule(text) == schedule
    assert format_schedule(parse_schedule(text)) == text
