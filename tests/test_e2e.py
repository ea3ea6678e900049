"""A real browser flow: Chromium (through Playwright) against a running dashboard.

The dashboard runs as a user runs it, ``streamlit run streamlit_app.py``, in a subprocess with
its own STUDIO_HOME. Debian's Chromium is used as installed; ``playwright install`` is never run.
Without /usr/bin/chromium the test skips, unless STUDIO_REQUIRE_BROWSER=1 (CI), where it fails.

Set STUDIO_E2E_SHOTS=/some/folder to keep screenshots of the pages for a look by eye; they are
always written to the test's tmp folder as well.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGES = ["Prompt Schedule", "Audio & Video", "Blend", "Gallery", "History", "Sessions"]
SCHEDULE = "0: a red circle\n4: a blue square"  # 5 frames
STEPS = 2  # so 5 x 2 = 10 denoise steps
SERVER_START_S = 60
RENDER_S = 90
UI_MS = 20_000  # an ordinary UI update: a rerun, a page switch

pytestmark = pytest.mark.e2e


def _browser_missing(reason: str) -> None:
    if os.environ.get("STUDIO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (STUDIO_REQUIRE_BROWSER=1, so this is a failure, not a skip)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"(could not read {path}: {exc})"


@dataclass(frozen=True)
class Dashboard:
    url: str
    log: Path  # the server's stdout and stderr
    home: Path


@pytest.fixture
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


@pytest.fixture
def dashboard(studio_home, tmp_path) -> Iterator[Dashboard]:
    port = _free_port()
    log = tmp_path / "streamlit.log"
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "HF_HUB_OFFLINE": "1"}
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
        # No hot reload: watching the repository (.venv included) only costs CPU and inotify
        # watches here, and can overflow the inotify queue.
        "--server.fileWatcherType",
        "none",
    ]
    url = f"http://127.0.0.1:{port}"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no *_proxy here
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the dashboard exited with {proc.returncode}:\n{_tail(log)}")
            try:
                with direct.open(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the dashboard was not healthy after {SERVER_START_S} s:\n{_tail(log)}"
                )
            time.sleep(0.25)
        yield Dashboard(url, log, studio_home)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _snap(page, path: Path) -> Path:
    """A screenshot of the whole page; Streamlit scrolls inside its main block, so grow the
    viewport to the content's height first."""
    size = page.viewport_size
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll("
        "'[data-testid=stMain], [data-testid=stSidebarContent]')].map(e => e.scrollHeight), 0)"
    )
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], int(height))})
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
    shots = os.environ.get("STUDIO_E2E_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(shots) / path.name)
    return path


@contextlib.contextmanager
def _explained(page, tmp_path: Path, dashboard: Dashboard) -> Iterator[None]:
    """On any failure, save a screenshot and attach it and the server's output to the message."""
    try:
        yield
    except Exception as exc:
        shot = tmp_path / "failure.png"
        try:
            page.screenshot(path=str(shot), full_page=True)
            where = f"screenshot: {shot}"
        except Exception as shot_exc:  # the page may be gone
            where = f"no screenshot ({shot_exc})"
        raise AssertionError(
            f"{exc}\n{where}\nurl: {page.url}\nserver output (tail):\n{_tail(dashboard.log)}"
        ) from exc


def _metric(page, label: str):
    """The value of the st.metric labelled exactly ``label`` ("Frames", not "Keyframes")."""
    name = page.locator(
        '[data-testid="stMetricLabel"]', has_text=re.compile(f"^{re.escape(label)}$")
    )
    return (
        page.locator('[data-testid="stMetric"]')
        .filter(has=name)
        .locator('[data-testid="stMetricValue"]')
    )


def _nav_names(page) -> list[str]:
    links = page.locator('[data-testid="stSidebarNav"] a[data-testid="stSidebarNavLink"]')
    # The icon is an aria-hidden emoji; the title is the link's markdown text.
    return [
        links.nth(i).locator('[data-testid="stMarkdownContainer"]').inner_text().strip()
        for i in range(links.count())
    ]


# The render job records "progress was drawn" even if it comes and goes between two polls.
WATCH_PROGRESS = """
window.__sawProgress = false;
new MutationObserver(() => {
  if (document.querySelector('[data-testid="stMain"] [data-testid="stProgress"]'))
    window.__sawProgress = true;
}).observe(document, {childList: true, subtree: true});
"""


def test_render_then_find_it_in_the_gallery(browser, dashboard, tmp_path):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_MS)
    page = context.new_page()
    page.add_init_script(WATCH_PROGRESS)
    main = page.locator('[data-testid="stMain"]')
    nav_links = page.locator('[data-testid="stSidebarNav"] a[data-testid="stSidebarNavLink"]')
    crashes = page.locator('[data-testid="stException"]')
    try:
        with _explained(page, tmp_path, dashboard):
            page.goto(dashboard.url)
            heading = page.get_by_role("heading", name="Prompt Schedule")
            expect(heading).to_be_visible(timeout=60_000)  # the first run imports the engine

            # The sidebar lists each page once.
            expect(nav_links).to_have_count(len(PAGES), timeout=UI_MS)
            assert sorted(_nav_names(page)) == sorted(PAGES), f"sidebar: {_nav_names(page)}"

            # Type a schedule and the steps; each commits (and reruns) on its own, and the
            # plan's metrics show that the app has them.
            schedule = main.locator('textarea[aria-label="Schedule"]')
            schedule.fill(SCHEDULE)
            schedule.press("Control+Enter")
            expect(_metric(page, "Frames")).to_have_text("5", timeout=UI_MS)
            expect(_metric(page, "Keyframes")).to_have_text("2", timeout=UI_MS)
            steps = main.locator('input[aria-label="Steps"]')
            steps.fill(str(STEPS))
            steps.press("Enter")
            expect(_metric(page, "Denoise steps")).to_have_text(str(5 * STEPS), timeout=UI_MS)

            main.get_by_role("button", name="Render", exact=True).click()
            outcome = main.locator('[data-testid^="stAlertContent"]').filter(
                has_text=re.compile(r"Run \S+ (finished|failed|was cancelled)")
            )
            expect(outcome).to_be_visible(timeout=RENDER_S * 1000)
            message = outcome.inner_text()
            found = re.search(r"Run (\S+) finished: 5 frames,", message)
            assert found, f"the render did not finish: {message!r}"
            run_id = found.group(1)
            expect(main.locator("video")).to_have_count(1, timeout=UI_MS)
            assert page.evaluate("window.__sawProgress"), "no progress bar was drawn"
            expect(crashes).to_have_count(0, timeout=UI_MS)
            _snap(page, tmp_path / "prompt_schedule.png")

            # The run's output is in the Gallery.
            nav_links.filter(
                has=page.locator(
                    '[data-testid="stMarkdownContainer"]', has_text=re.compile(r"^Gallery$")
                )
            ).click()
            expect(page).to_have_url(re.compile(r"/gallery$"), timeout=UI_MS)
            expect(page.get_by_role("heading", name="Gallery")).to_be_visible(timeout=UI_MS)
            expect(main.get_by_text(run_id).first).to_be_visible(timeout=UI_MS)
            expect(main.locator("video")).to_have_count(1, timeout=UI_MS)
            expect(crashes).to_have_count(0, timeout=UI_MS)
            assert sorted(_nav_names(page)) == sorted(PAGES), f"sidebar: {_nav_names(page)}"
            _snap(page, tmp_path / "gallery.png")
    finally:
        context.close()
