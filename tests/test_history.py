"""Searching runs and judging re-runs (ui/history.py): pure functions on run dicts."""

from __future__ import annotations

from datetime import date

from ui.history import matches, reproduction


def run(**changes):
    base = {
        "id": "20261121-101010-abcdef",
        "session": "colour-studies",
        "status": "done",
        "model_ref": "builtin:shapes",
        "error": None,
        "created_at": "2026-11-21T10:10:10+00:00",
        "spec": {
            "prompts": {
                "schedule": "0: a red circle\n9: a blue square",
                "negative_prompt": "blurry",
            }
        },
        "outputs": [{"sha256": "a" * 64}],
        "device": "cpu",
        "versions": {"torch": "2.13.0"},
    }
    return {**base, **changes}


def test_filters():
    r = run()
    assert matches(r)
    assert matches(r, text="BLUE square") and not matches(r, text="green")
    assert matches(r, text="blurry")  # the negative prompt counts
    assert matches(r, model="shapes") and not matches(r, model="tiny")
    assert matches(r, status="done") and not matches(r, status="failed")
    assert matches(r, session="colour-studies") and not matches(r, session="other")
    tags = {"colour-studies": ["draft", "red"]}
    assert matches(r, tags={"red"}, session_tags=tags)
    assert not matches(r, tags={"red", "final"}, session_tags=tags)
    assert matches(r, since=date(2026, 11, 21), until=date(2026, 11, 21))
    assert not matches(r, since=date(2026, 11, 22)) and not matches(r, until=date(2026, 11, 20))


def test_reproduction():
    same, message = reproduction(run(), run(id="x"))
    assert same and "byte-identical" in message
    same, message = reproduction(run(), run(outputs=[{"sha256": "b" * 64}], device="cuda"))
    assert not same and "device cpu → cuda" in message
    same, message = reproduction(
        run(), run(outputs=[{"sha256": "b" * 64}], versions={"torch": "2.14.0"})
    )
    assert not same and "torch 2.13.0 → 2.14.0" in message
    same, message = reproduction(run(), run(status="failed"))
    assert not same and "failed" in message
