"""Running the dashboard under AppTest as the real server runs it; shared by test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")
TIMEOUT = 120


@pytest.fixture(autouse=True)
def navigation_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the app as the real server does once st.navigation has been called.

    AppTest forgets, before every run, that the app uses st.navigation; seeing a ``pages/``
    folder it then falls back to the old pages-folder mode and runs a page script alone,
    without the entry point and its sidebar. The server remembers it after the first run.
    Import it into a test module to make it autouse there.
    """
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)
