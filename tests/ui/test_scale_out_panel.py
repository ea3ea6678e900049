"""Scale-out in the dashboard (issue 28): the sidebar's workers and cluster address go into
every page's render, the pages show how a render splits, History shows a run's shards.

Nothing here starts Ray (the plan is pure); the renders over Ray workers through the
dashboard are in the slow tier (``test_a_dashboard_render_over_two_workers``).
"""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

SCHEDULE = "0: a red circle\n7: a blue square"  # 8 frames


def plan_text(at: AppTest) -> str:
    """The shard plan's expander title and its lines, as shown."""
    titles = [e.label for e in at.expander if "shard(s)" in e.label]
    lines = [line.strip() for c in at.code for line in c.value.splitlines()]
    return "\n".join(titles + lines)


def test_one_worker_is_the_default_and_shows_no_shard_plan(app):
    assert app.number_input(key="sidebar.workers").value == 1
    assert app.text_input(key="sidebar.ray_address").value == ""
    assert "shard(s)" not in plan_text(app)
    assert not app.exception


def test_two_workers_split_the_animation_into_frame_ranges(app):
    app.text_area(key="ps.schedule").set_value(SCHEDULE)
    app.number_input(key="sidebar.workers").set_value(2).run()
    assert not app.exception, app.exception
    text = plan_text(app)
    assert "on 2 worker(s)" in text, text
    ranges = [
        (int(a), int(b)) for a, b in re.findall(r"^shard \d+ .*frames (\d+)-(\d+)", text, re.M)
    ]
    assert len(ranges) >= 2, text
    # Frame ranges that cover the 8 frames once, in order.
    covered = [f for first, last in ranges for f in range(first, last + 1)]
    assert covered == list(range(8)), text


def test_motion_keeps_the_render_in_one_shard_and_says_why(app):
    app.text_area(key="ps.schedule").set_value(SCHEDULE)
    app.number_input(key="sidebar.workers").set_value(2)
    app.text_input(key="ps.zoom").set_value("0:(1.02)").run()
    assert not app.exception, app.exception
    assert "motion curves start each frame from the one before it" in plan_text(app)


def test_the_blend_page_splits_into_keyframes_then_transitions(app):
    app.number_input(key="sidebar.workers").set_value(3).run()
    app.switch_page("pages/blend.py").run()
    app.text_area(key="blend.prompts").set_value("a red circle\na blue square\na green star")
    app.run()
    assert not app.exception, app.exception
    text = plan_text(app)
    assert "on 3 worker(s)" in text and "in 2 stage(s)" in text, text


def test_a_bad_cluster_address_is_named_and_nothing_renders(app):
    app.text_input(key="sidebar.ray_address").set_value("not an address").run()
    assert not app.exception, app.exception
    assert any("ray_address must be HOST:PORT" in e.value for e in app.error)
    assert app.button(key="ps.render").disabled


def test_the_setting_survives_other_pages_and_goes_into_the_queued_spec(app, monkeypatch):
    """What a click queues carries the sidebar's workers (the queue itself is stood in for:
    the render over Ray is the slow test below)."""
    from studio.errors import StudioError
    from ui import render as ui_render

    queued = []

    def queue(spec, session_slug, predicted_steps=None):
        queued.append(spec)
        raise StudioError("stopped here by the test")

    monkeypatch.setattr(ui_render, "submit_spec", queue)
    app.text_area(key="ps.schedule").set_value(SCHEDULE)
    app.number_input(key="sidebar.workers").set_value(2).run()
    app.switch_page("pages/gallery.py").run()
    app.switch_page("pages/prompt_schedule.py").run()
    assert app.number_input(key="sidebar.workers").value == 2
    app.button(key="ps.render").click().run()
    assert not app.exception, app.exception
    (spec,) = queued
    assert spec.diffusion.workers == 2 and spec.diffusion.ray_address == ""
    assert spec.prompts.schedule.startswith("0: a red circle")


@pytest.mark.slow
def test_a_dashboard_render_over_two_workers(app, studio_home):
    """Ray started from the dashboard's render thread: the run finishes, and History shows its
    shards and the workers that made them."""
    from ui.resources import get_jobs

    app.text_area(key="ps.schedule").set_value(SCHEDULE)
    app.number_input(key="ps.steps").set_value(2)
    app.number_input(key="sidebar.workers").set_value(2).run()
    app.button(key="ps.render").click().run()
    assert not app.exception, app.exception
    job = get_jobs().get(app.session_state["ps.job"])
    assert job.wait(600), "render did not finish"
    assert job.status == "done", job.error
    app.switch_page("pages/history.py").run()
    assert not app.exception, app.exception
    shown = [c.value for c in app.caption] + [c.value for c in app.code]
    assert any("on 2 worker(s)" in v for v in shown), shown
    assert any("frames 0-" in v for v in shown), shown
