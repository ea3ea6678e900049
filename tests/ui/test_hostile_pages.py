"""Hostile input on the dashboard's pages: a message naming the problem, never an exception,
and no run recorded (issue 26)."""

from __future__ import annotations

import pytest

from db import Store, list_runs


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("0: " + "a" * 5_000, "this prompt is 5,000 characters long; the limit is 4,000"),
        ("0: a\nnegative: " + "n" * 5_000, "the negative prompt is 5,000 characters long"),
        ("0: a\n100001: b", "larger than"),
    ],
)
def test_prompt_schedule_refuses_oversized_input_with_a_message(
    app, studio_home, schedule, message
):
    app.text_area(key="ps.schedule").set_value(schedule).run()
    assert not app.exception, app.exception
    shown = " ".join(e.value for e in app.error)
    assert message in shown
    assert app.button(key="ps.render").disabled  # nothing to start
    with Store.open(studio_home).session() as s:
        assert list_runs(s) == []
