"""Fixtures of the dashboard tests: the app under AppTest with a fresh STUDIO_HOME."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.dashboard import start_app


@pytest.fixture(autouse=True)
def _as_served(navigation_v2: None) -> None:
    """Every page test runs the dashboard as the server does (see ``navigation_v2``)."""


@pytest.fixture
def app(studio_home) -> AppTest:
    """The dashboard after its first run, on an empty STUDIO_HOME."""
    return start_app()
