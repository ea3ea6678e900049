"""The History page's pieces (ui/history.py: searching runs, judging re-runs, readable times,
durations and timings; pure functions on run dicts) and the page itself through AppTest."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from db import Store
from tests.support.dashboard import widget_labels
from tests.support.hub import make_session
from ui.history import (
    ago,
    compare_rows,
    duration,
    local_zone,
    matches,
    prompt_summary,
    reproduction,
    timing_rows,
    timings_chart,
    took,
    when,
)
from ui.text import plain


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


# -- readable times and durations -----------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)  # 16:00 in Berlin


@pytest.mark.parametrize(
    ("stored", "zone", "shown"),
    [
        ("2026-12-03T13:03:00+00:00", BERLIN, "today 14:03"),
        ("2026-12-02T08:12:00+00:00", BERLIN, "yesterday 09:12"),
        ("2026-11-28T13:03:00+00:00", BERLIN, "28 Nov 14:03"),
        ("2025-12-03T13:03:00+00:00", BERLIN, "3 Dec 2025 14:03"),
        ("2026-07-01T12:00:00+00:00", BERLIN, "1 Jul 14:00"),  # summer time, +2 h
        # After midnight in Berlin, still the day before in UTC: the zone decides the day.
        ("2026-12-02T23:30:00+00:00", BERLIN, "today 00:30"),
        ("2026-12-02T23:30:00+00:00", UTC, "yesterday 23:30"),
        ("2026-12-03T09:30:00-05:00", UTC, "today 14:30"),
        (None, BERLIN, ""),
    ],
)
def test_when_reads_as_local_time(stored, zone, shown):
    assert when(stored, now=NOW, zone=zone) == shown


def test_when_refuses_times_it_cannot_place():
    with pytest.raises(ValueError, match="'2026-12-03T13:03:00' has no UTC offset"):
        when("2026-12-03T13:03:00", now=NOW, zone=UTC)
    with pytest.raises(ValueError, match="'yesterday'"):
        when("yesterday", now=NOW, zone=UTC)
    with pytest.raises(ValueError, match="now"):
        when("2026-12-03T13:03:00+00:00", now=datetime(2026, 12, 3), zone=UTC)


@pytest.mark.parametrize(
    ("before", "shown"),
    [
        (timedelta(seconds=30), "just now"),
        (timedelta(minutes=5, seconds=20), "5 min ago"),
        (timedelta(seconds=50), "1 min ago"),
        (timedelta(minutes=59, seconds=50), "59 min ago"),
        (timedelta(hours=2, minutes=50), "2 h ago"),
        (timedelta(days=1, hours=3), "1 day ago"),
        (timedelta(days=40), "40 days ago"),
        (timedelta(minutes=-10), "in 10 min"),
    ],
)
def test_ago(before, shown):
    assert ago((NOW - before).isoformat(), now=NOW) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0.25, "0.25 s"),
        (12.44, "12.4 s"),
        (59.96, "1 m 00 s"),
        (228, "3 m 48 s"),
        (3599.7, "1 h 00 m"),
        (3720, "1 h 02 m"),
        (90000, "25 h 00 m"),
        (None, ""),
    ],
)
def test_duration(seconds, shown):
    assert duration(seconds) == shown


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, "12", True])
def test_duration_refuses_what_is_not_a_time(bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        duration(bad)


def test_local_zone():
    assert local_zone("Europe/Berlin") == BERLIN
    here = datetime.now().astimezone()
    assert here.astimezone(local_zone(None)).utcoffset() == here.utcoffset()
    with pytest.raises(ValueError, match="'Mars/Olympus'"):
        local_zone("Mars/Olympus")


# -- a run's prompt, timings and comparison -------------------------------------------------


def test_prompt_summary():
    schedule = {"prompts": {"schedule": "# warm up\n0: a red circle\n\n12 : a blue square"}}
    assert prompt_summary(schedule) == "a red circle → a blue square"
    assert prompt_summary(schedule, limit=14) == "a red circle…"
    blend = {"prompts": {"keyframes": [{"prompt": "a star", "seed": 3}, {"prompt": "a moon"}]}}
    assert prompt_summary(blend) == "a star → a moon"
    assert prompt_summary({}) == ""


def test_timing_rows_and_chart():
    timings = {"load": 1.0, "unet": 2.5, "vae": 0.5, "other": 1.0, "total": 5.0, "seconds": 5.0}
    assert timing_rows(timings) == [
        {"stage": "load", "time": "1.0 s", "share": "20 %"},
        {"stage": "unet", "time": "2.5 s", "share": "50 %"},
        {"stage": "vae", "time": "0.50 s", "share": "10 %"},
        {"stage": "other", "time": "1.0 s", "share": "20 %"},
        {"stage": "total", "time": "5.0 s", "share": "100 %"},
    ]
    assert took(timings) == "5.0 s" and took({"seconds": 228}) == "3 m 48 s" and took({}) == ""
    # A pulled run's timings may hold anything: shown as recorded, never charted.
    assert timing_rows({"unet": "fast"}) == [{"stage": "unet", "time": "'fast'", "share": ""}]
    assert timing_rows({"[a](http://e)": 1})[0]["stage"] == plain("[a](http://e)")
    assert took({"seconds": -3}) == "-3"
    (bars,) = timings_chart({**timings, "<a href='x'>": 0.1, "odd": None}).data
    assert list(bars.y) == ["load", "unet", "vae", "other", "&lt;a href=&#x27;x&#x27;&gt;"]
    assert list(bars.x) == [1.0, 2.5, 0.5, 1.0, 0.1]
    assert list(bars.text) == ["1.0 s", "2.5 s", "0.50 s", "1.0 s", "0.10 s"]


def test_compare_rows_are_plain_text():
    rows = [("prompts.schedule", "0: [x](http://e)", None), ("diffusion.steps", 2, [3, 4])]
    assert compare_rows(rows, "run-a", "run-b") == [
        {"setting": "prompts.schedule", "run-a": plain("0: [x](http://e)"), "run-b": "—"},
        {"setting": "diffusion.steps", "run-a": "2", "run-b": plain("[3, 4]")},
    ]


# -- the page -------------------------------------------------------------------------------


@pytest.fixture
def page(app, studio_home):
    """The History page over a session with two finished runs."""
    ids = make_session(Store.open(studio_home), "demo", runs=2)
    app.switch_page("pages/history.py").run()
    assert not app.exception, app.exception
    return app, ids


def test_page_has_no_two_widgets_with_one_label(page):
    at, _ = page
    labels = widget_labels(at)
    assert {"Session", "Model"} <= set(labels)  # the sidebar's
    assert len(labels) == len(set(labels)), sorted(labels)


def test_page_reads_like_a_person_wrote_it(page):
    at, ids = page
    runs = at.dataframe[1].value
    assert list(runs["prompt"]) == ["seed 1", "seed 0"]
    assert list(runs["time"]) == ["0.50 s", "0.50 s"]
    assert all(created.startswith("today ") for created in runs["created"])
    assert all(created.startswith("today ") for created in at.dataframe[0].value["created"])
    assert any("just now" in m.value for m in at.markdown)
    assert at.get("plotly_chart"), "the run's timings are not charted"
    assert not any("denoise" in str(j.value) for j in at.json), "timings still shown as JSON"
    at.selectbox(key="history.other").set_value(ids[0]).run()
    timings, table = at.table
    assert list(timings.value["time"]) == ["0.25 s", "0.50 s"]  # denoise, then the total
    assert list(table.value.columns) == ["setting", ids[1], ids[0]]
    assert "prompts.schedule" in list(table.value["setting"])


def test_page_filters_survive_a_visit_to_another_page(page):
    at, ids = page
    at.text_input(key="history.text").set_value("seed 0").run()
    at.selectbox(key="history.session").set_value("demo").run()
    at.multiselect(key="history.tags").set_value(["red"]).run()
    assert list(at.dataframe[1].value["run"]) == [ids[0]]
    at.switch_page("pages/gallery.py").run()
    at.switch_page("pages/history.py").run()
    assert not at.exception, at.exception
    assert at.text_input(key="history.text").value == "seed 0"
    assert at.selectbox(key="history.session").value == "demo"
    assert at.multiselect(key="history.tags").value == ["red"]
    assert list(at.dataframe[1].value["run"]) == [ids[0]]


def _give_scores(home, scores: dict[str, dict]) -> None:
    """Record a smoothness score (``studio.media.smoothness``) with each run in ``scores``."""
    from db.models import Run

    with Store.open(home).begin() as s:
        for run_id, score in scores.items():
            row = s.get(Run, run_id)
            row.extra = {**row.extra, "smoothness": score}


def _score(distances: list[float]) -> dict:
    top = max(range(len(distances)), key=distances.__getitem__)
    mean = sum(distances) / len(distances)
    cv = math.sqrt(sum((d - mean) ** 2 for d in distances) / len(distances)) / mean
    return {
        "frames": len(distances) + 1,
        "mean": mean,
        "cv": cv,
        "max_jump": distances[top],
        "max_jump_frame": top + 1,
        "distances": distances,
    }


def test_page_charts_sorts_and_filters_by_smoothness(page, studio_home):
    """Issue 29, item 6: the per-frame chart shows the jump; sort and filter by the score."""
    at, ids = page  # ids[1] is the newer run
    _give_scores(studio_home, {ids[0]: _score([0.1, 0.1, 0.1]), ids[1]: _score([0.1, 0.6, 0.1])})
    at.run()
    runs = at.dataframe[1].value
    assert list(runs["run"]) == [ids[1], ids[0]]  # newest first
    assert list(runs["largest jump"]) == ["0.600", "0.100"]
    at.selectbox(key="history.run").set_value(ids[1]).run()
    assert any("largest jump 0.600 into frame 2" in c.value for c in at.caption)
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    jump = [c for c in charts if "largest jump" in c]
    assert len(jump) == 1 and '"x":[2]' in jump[0].replace(" ", "")
    at.selectbox(key="history.sort").set_value("evenness").run()
    assert list(at.dataframe[1].value["run"]) == [ids[0], ids[1]]  # CV 0, then the jumpy one
    at.number_input(key="history.max_jump").set_value(0.2).run()
    assert not at.exception, at.exception
    assert list(at.dataframe[1].value["run"]) == [ids[0]]
