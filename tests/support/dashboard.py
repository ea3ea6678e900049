"""The dashboard under Streamlit's AppTest: where the entry point is, how long to wait, and the
steps several page tests share (render a schedule, list the widgets drawn).

The fixtures live in conftest files: ``app`` in tests/ui/conftest.py, ``navigation_v2`` (the
dashboard run as the server runs it) in tests/conftest.py.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
TIMEOUT = 120

WIDGETS = [
    "button",
    "checkbox",
    "color_picker",
    "date_input",
    "multiselect",
    "number_input",
    "radio",
    "select_slider",
    "selectbox",
    "slider",
    "text_area",
    "text_input",
    "time_input",
    "toggle",
]


def start_app() -> AppTest:
    """The dashboard after its first run, as a user first sees it."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    return at


def render(at: AppTest, schedule: str, steps: int = 2):
    """Type a schedule, press Render, and wait for the background job to end."""
    from ui.resources import get_jobs

    at.text_area(key="ps.schedule").set_value(schedule)
    at.number_input(key="ps.steps").set_value(steps)
    at.run()
    at.button(key="ps.render").click().run()
    assert not at.exception, at.exception
    job = get_jobs().get(at.session_state["ps.job"])
    assert job.wait(TIMEOUT), "render did not finish"
    at.run()
    return job


def widget_labels(at: AppTest) -> list[str]:
    """The label of every widget drawn, the sidebar's included."""
    return [w.label for kind in WIDGETS for w in getattr(at, kind)]
