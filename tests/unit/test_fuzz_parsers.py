"""The text languages and the spec loader refuse any input with their own error, never
another exception (issue 26): 10,000 examples each in the slow tier.

Inputs are drawn from the languages' own alphabet (digits, colons, brackets, commas,
operators, newlines, words) and from arbitrary text, so both near-misses and garbage are
tried.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.errors import CurveError, ScheduleError, StudioError
from studio.languages.curves import parse_curve
from studio.languages.schedule import parse_schedule
from studio.spec import load_spec

pytestmark = pytest.mark.slow

MANY = settings(max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_PIECES = st.sampled_from(
    [
        "0",
        "1",
        "12",
        "999999999999",
        ":",
        " ",
        "(",
        ")",
        "[",
        "]",
        ",",
        "-",
        "+",
        "*",
        "/",
        "**",
        ".",
        "e",
        "t",
        "sin",
        "a red circle",
        "\n",
        "#",
        "--neg",
        "|",
        "{",
        "}",
        "'",
        '"',
    ]
)
_NEAR = st.lists(_PIECES, max_size=40).map("".join)
_TEXT = st.one_of(_NEAR, st.text(max_size=200))


@MANY
@given(_TEXT)
def test_a_schedule_parses_or_is_refused_with_a_schedule_error(text: str) -> None:
    try:
        parse_schedule(text)
    except ScheduleError as exc:
        assert exc.line >= 1 and exc.column >= 1


@MANY
@given(_TEXT)
def test_a_curve_parses_or_is_refused_with_a_curve_error(text: str) -> None:
    with contextlib.suppress(CurveError):
        parse_curve(text)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["kind", "prompts", "diffusion", "animation", "steps", "schedule", "x"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=30,
)


@MANY
@given(_JSON)
def test_a_spec_loads_or_is_refused_with_a_studio_error(data: object) -> None:
    with contextlib.suppress(StudioError):  # SpecError and the text errors among them
        load_spec(json.dumps(data)).check()
