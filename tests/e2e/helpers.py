"""What a browser test does as a user: open the dashboard, go to a page, read a form, type.

Everything waits on what the user would see (a heading, a metric, an alert), never on a
fixed sleep, except ``settle``: Streamlit shows no sign that a rerun has finished, so it
waits until the page's widgets stop changing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

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
UI_MS = 20_000  # an ordinary UI update: a rerun, a page switch
FIRST_LOAD_MS = 90_000  # the first run of a fresh dashboard imports the engine
RENDER_MS = 120_000

# Every widget value in the main area, by label: text, numbers and selectboxes (their input
# shows the chosen option), checkboxes, radios and sliders. Hidden widgets (a closed
# expander) count too: they are part of the form.
_FORM_JS = """
() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const out = {};
  const put = (label, value) => {
    let k = label, n = 2;
    while (k in out) k = `${label} #${n++}`;
    out[k] = value;
  };
  for (const el of main.querySelectorAll('textarea[aria-label], input[aria-label]')) {
    if (el.type === 'checkbox' || el.type === 'radio' || el.type === 'file') continue;
    put(el.getAttribute('aria-label'), el.value);
  }
  for (const box of main.querySelectorAll('[data-testid="stCheckbox"]')) {
    const input = box.querySelector('input[type=checkbox]');
    put(box.innerText.trim(), input ? input.checked : null);
  }
  for (const group of main.querySelectorAll('[data-testid="stRadio"]')) {
    const label = group.querySelector('[data-testid="stWidgetLabel"]');
    const checked = group.querySelector('input[type=radio]:checked');
    const text = checked ? checked.closest('label').innerText.trim() : null;
    put(label ? label.innerText.trim() : 'radio', text);
  }
  for (const s of main.querySelectorAll('[data-testid="stSlider"]')) {
    const label = s.querySelector('[data-testid="stWidgetLabel"]');
    const thumb = s.querySelector('[role="slider"]');
    put(label ? label.innerText.trim() : 'slider', thumb ? thumb.getAttribute('aria-valuenow') : null);
  }
  return out;
}
"""

# A page's visible state, for ``settle``: text plus every widget's value.
_FINGERPRINT_JS = """
() => {
  const main = document.querySelector('[data-testid="stMain"]');
  if (!main) return '';
  const values = [...main.querySelectorAll('input, textarea')].map(e => e.value + e.checked);
  return main.innerText + '|' + values.join('|');
}
"""


@dataclass(frozen=True)
class Dashboard:
    url: str
    log: Path  # the server's stdout and stderr
    home: Path


def tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"(could not read {path}: {exc})"


class User:
    """One browser tab on the dashboard, driven as a person would."""

    def __init__(self, context, dashboard: Dashboard):
        from playwright.sync_api import expect

        self.expect = expect
        self.dashboard = dashboard
        self.page = context.new_page()
        self.main = self.page.locator('[data-testid="stMain"]')
        self.sidebar = self.page.locator('[data-testid="stSidebar"]')
        self.crashes = self.page.locator('[data-testid="stException"]')
        self.outside: list[str] = []  # requests to anywhere but the dashboard
        self.page.on("request", self._watch_request)

    def _watch_request(self, request) -> None:
        if not request.url.startswith(self.dashboard.url) and not request.url.startswith(
            ("data:", "blob:", "about:")
        ):
            self.outside.append(request.url)

    # -- navigation -------------------------------------------------------------------------
    def open(self) -> User:
        self.page.goto(self.dashboard.url)
        self.expect(self.heading("Prompt Schedule")).to_be_visible(timeout=FIRST_LOAD_MS)
        self.settle()
        return self

    def heading(self, name: str):
        return self.main.get_by_role("heading", name=name, exact=True)

    def nav_link(self, name: str):
        return self.page.locator('[data-testid="stSidebarNav"] a').filter(
            has=self.page.locator(
                '[data-testid="stMarkdownContainer"]', has_text=re.compile(f"^{re.escape(name)}$")
            )
        )

    def go(self, name: str, *, settle: bool = True) -> None:
        """Open page ``name`` from the sidebar; ``settle=False`` moves on as soon as its
        heading shows (a user passing through, before the page has finished drawing)."""
        self.nav_link(name).click()
        self.expect(self.heading(name)).to_be_visible(timeout=UI_MS)
        if settle:
            self.settle()
        self.no_crash()

    def settle(self, quiet_s: float = 0.4, timeout_s: float = 20) -> None:
        """Wait until the main area has not changed for ``quiet_s`` (a rerun finished)."""
        deadline = time.monotonic() + timeout_s
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            now = self.page.evaluate(_FINGERPRINT_JS)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return
            time.sleep(0.1)

    def no_crash(self) -> None:
        self.expect(self.crashes).to_have_count(0, timeout=1_000)

    # -- reading ------------------------------------------------------------------------------
    def form(self) -> dict:
        return self.page.evaluate(_FORM_JS)

    def metric(self, label: str):
        """The value of the st.metric labelled exactly ``label`` ("Frames", not "Keyframes")."""
        name = self.page.locator(
            '[data-testid="stMetricLabel"]', has_text=re.compile(f"^{re.escape(label)}$")
        )
        return (
            self.main.locator('[data-testid="stMetric"]')
            .filter(has=name)
            .locator('[data-testid="stMetricValue"]')
        )

    def alert(self, pattern: str):
        return self.main.locator('[data-testid^="stAlertContent"]').filter(
            has_text=re.compile(pattern)
        )

    # -- typing -------------------------------------------------------------------------------
    def field(self, label: str):
        return self.main.locator(
            f'textarea[aria-label="{label}"], input[aria-label="{label}"]'
        ).first

    def type(self, label: str, value: str | float) -> None:
        """Replace a text, text area or number field's value and commit it (one rerun)."""
        box = self.field(label)
        box.fill(str(value))
        is_area = box.evaluate("e => e.tagName") == "TEXTAREA"
        box.press("Control+Enter" if is_area else "Enter")
        self.settle()

    def choose(self, label: str, option: str) -> None:
        """Pick ``option`` in the selectbox labelled ``label``."""
        box = self.main.locator(f'input[role="combobox"][aria-label="{label}"]').first
        choice = self.page.get_by_role("option", name=option, exact=True)
        for _ in range(3):  # a rerun that lands meanwhile redraws the box, closed
            box.click()
            box.fill(option)  # filters a long list down to the option, so it is drawn
            try:
                choice.click(timeout=3_000)
                break
            except Exception:
                self.settle()
        else:
            raise AssertionError(f"{label!r} offers no option {option!r}")
        self.settle()

    def tick(self, label: str) -> None:
        """Click the checkbox labelled ``label`` (ticks or unticks it)."""
        self.main.locator('[data-testid="stCheckbox"]').filter(has_text=label).locator(
            "label"
        ).first.click()
        self.settle()

    def click(self, name: str) -> None:
        self.main.get_by_role("button", name=name, exact=True).first.click()
        self.settle()
