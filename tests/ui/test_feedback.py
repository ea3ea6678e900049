"""What the dashboard tells a user at a glance: time left, place in the queue, unknown words."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from studio.app.jobs import JobRunner
from tests.support.dashboard import APP, TIMEOUT, render
from ui.job_panel import job_status_text


@pytest.fixture
def runner():
    runner = JobRunner()
    yield runner
    runner.shutdown(wait=True)


def _blocking(runner, **meta):
    started, release = threading.Event(), threading.Event()

    def fn(job):
        started.set()
        assert release.wait(10)

    job = runner.submit(fn, device="cpu", meta=meta)
    assert started.wait(10)
    return job, release


def test_status_text_says_place_in_queue_time_left_and_never_frame_0_of_0(runner):
    running, release = _blocking(runner, predicted_steps=100, seconds_per_step=0.5)
    try:
        # Started, no plan yet: the model is loading, not "frame 0 of 0".
        text = job_status_text(running, runner.ahead(running))
        assert text.startswith("loading the model, about ") and "0 of 0" not in text
        # Two frames of four after 10 s: the pace says 10 s more.
        running.started_at = time.time() - 10.0
        running.progress(2, 4)
        text = job_status_text(running, [])
        assert re.fullmatch(r"frame 2 of 4, about 10\.\d s left", text), text

        queued = runner.submit(
            lambda job: None, device="cpu", meta={"predicted_steps": 40, "seconds_per_step": 0.5}
        )
        text = job_status_text(queued, runner.ahead(queued))
        assert text.startswith("queued behind 1 render on this device; starts in about 1")
        assert "done in about 3" in text  # ~10 s of the first, then 20 s of its own
    finally:
        release.set()


def test_a_queued_job_without_estimates_still_says_its_place(runner):
    running, release = _blocking(runner)
    try:
        queued = runner.submit(lambda job: None, device="cpu")
        assert job_status_text(queued, runner.ahead(queued)) == (
            "queued behind 1 render on this device"
        )
    finally:
        release.set()


@pytest.fixture
def shapes_app(studio_home):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.selectbox(key="sidebar.model").set_value("builtin:shapes").run()
    assert not at.exception, at.exception
    return at


def test_words_outside_the_built_in_models_vocabulary_are_warned_about(shapes_app):
    at = shapes_app
    at.text_area(key="ps.schedule").set_value("0: a red circle\n8: a watercolour cat").run()
    warnings = [w.value for w in at.warning]
    assert any("'watercolour', 'cat' are not words builtin:shapes knows" in w for w in warnings), (
        warnings
    )
    assert not at.button(key="ps.render").disabled  # a warning, not a refusal

    at.text_area(key="ps.schedule").set_value(
        "0: a small red circle on a black background\n8: a blue star at the top left"
    ).run()
    assert not [w.value for w in at.warning if "knows" in w.value]

    at.selectbox(key="sidebar.model").set_value("builtin:tiny").run()
    at.text_area(key="ps.schedule").set_value("0: a watercolour cat").run()
    assert not [w.value for w in at.warning if "knows" in w.value]


def test_sidebar_lists_the_words_a_built_in_model_knows(shapes_app):
    at = shapes_app
    words = " ".join(c.value for c in at.sidebar.caption)
    for word in ("red", "circle", "star", "small", "at the top left", "gray"):
        assert word in words, words
    at.selectbox(key="sidebar.model").set_value("builtin:tiny").run()
    assert "circle" not in " ".join(c.value for c in at.sidebar.caption)


def test_prompt_schedule_shows_an_estimate_before_render(shapes_app):
    at = shapes_app
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Estimated time"].endswith(" s"), metrics
    assert any("first guess" in c.value for c in at.caption)


def test_sidebar_lists_this_tabs_renders_and_only_counts_other_tabs(shapes_app):
    from ui.resources import get_jobs

    at = shapes_app
    jobs = get_jobs()
    release = threading.Event()
    other = jobs.submit(
        lambda job: release.wait(30),
        device="cpu",
        meta={"owner": "another-tab", "run_id": "r-other", "kind": "animation"},
    )
    try:
        at.run()
        sidebar = " ".join(c.value for c in at.sidebar.caption)
        assert "1 render from other browser tabs queued or running" in sidebar, sidebar
        assert "r-other" not in " ".join(p.proto.text for p in at.sidebar.get("progress"))
    finally:
        release.set()
        other.wait(10)


def test_heavy_libraries_are_imported_once_before_any_page_runs():
    """A fresh process: the entry point's first call imports them, so two tabs (or a tab and
    a render) never import pandas at the same moment and see it half initialised."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from ui.resources import PRELOADED, preload_libraries\n"
        "assert 'pandas' not in sys.modules, 'already imported: the check would prove nothing'\n"
        "preload_libraries()\n"
        "import pandas\n"
        "assert hasattr(pandas, 'Series') and all(m in sys.modules for m in PRELOADED)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
    source = Path(APP).read_text()
    assert source.index("preload_libraries()") < source.index("draw_sidebar()")


def test_a_finished_render_opens_its_run_in_history(studio_home):

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    first = render(at, "0: a red circle\n2: a blue square")
    second = render(at, "0: a green circle\n2: a blue square")
    assert first.status == second.status == "done"
    # History filtered to show nothing: the button still brings the run into view.
    at.switch_page("pages/history.py").run()
    at.text_input(key="history.text").set_value("no such prompt").run()
    assert at.caption[0].value.startswith("0 of 2 runs"), at.caption[0].value
    at.switch_page("pages/prompt_schedule.py").run()
    run_id = second.meta["run_id"]
    (button,) = [b for b in at.button if b.label == f"Open run {run_id} in History"]
    button.click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "History"
    assert at.selectbox(key="history.run").value == run_id
    assert at.text_input(key="history.text").value == ""
