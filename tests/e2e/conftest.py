"""Browser tests: Debian's Chromium, driven by Playwright, against a running dashboard.

The dashboard runs as a user runs it (``streamlit run streamlit_app.py``) in a subprocess with
its own STUDIO_HOME, one per test module. Chromium is used as installed; ``playwright install``
is never run. Without /usr/bin/chromium the tests skip, unless STUDIO_REQUIRE_BROWSER=1 (CI),
where they fail.

On a failure every open page is saved as a screenshot into ``$STUDIO_E2E_SHOTS`` (default:
``e2e-failures/`` in the checkout), named after the test, and the server's output is attached
to the report.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .helpers import CHROMIUM, CHROMIUM_ARGS, Dashboard, tail

ROOT = Path(__file__).resolve().parents[2]
SERVER_START_S = 60
SHOTS = Path(os.environ.get("STUDIO_E2E_SHOTS") or ROOT / "e2e-failures")


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)


def _browser_missing(reason: str) -> None:
    if os.environ.get("STUDIO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (STUDIO_REQUIRE_BROWSER=1, so this is a failure, not a skip)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        _browser_missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _browser_missing("the playwright Python package is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def start_dashboard(home: Path, log: Path) -> tuple[subprocess.Popen, str]:
    """Start ``streamlit run streamlit_app.py`` on a free port; return it once healthy."""
    port = _free_port()
    env = {**os.environ, "STUDIO_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "streamlit_app.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    url = f"http://127.0.0.1:{port}"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no *_proxy here
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SERVER_START_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the dashboard exited with {proc.returncode}:\n{tail(log)}")
        try:
            with direct.open(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return proc, url
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the dashboard was not healthy after {SERVER_START_S} s:\n{tail(log)}")
        time.sleep(0.25)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory, model_cache) -> Iterator[Dashboard]:
    """One dashboard per test module, with a STUDIO_HOME of its own."""
    folder = tmp_path_factory.mktemp("dashboard")
    home = folder / "home"
    (home / "cache").mkdir(parents=True)
    (home / "cache" / "models").symlink_to(model_cache, target_is_directory=True)
    log = folder / "streamlit.log"
    proc, url = start_dashboard(home, log)
    try:
        yield Dashboard(url, log, home)
    finally:
        stop(proc)


@pytest.fixture
def context(browser, request):
    """A fresh browser context (a new dashboard user); screenshots of its pages on failure."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(20_000)
    yield context
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        SHOTS.mkdir(parents=True, exist_ok=True)
        for i, page in enumerate(context.pages):
            with contextlib.suppress(Exception):  # a closed page has nothing to show
                page.screenshot(path=str(SHOTS / f"{request.node.name}-{i}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report
        dash = item.funcargs.get("dashboard") if hasattr(item, "funcargs") else None
        if report.failed and isinstance(dash, Dashboard):
            report.sections.append(("dashboard output (tail)", tail(dash.log)))
