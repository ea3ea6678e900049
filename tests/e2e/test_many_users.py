"""Three people on one dashboard at once: each renders, walks the pages, and sees no traceback.

Each user is a browser context of its own (its own Streamlit session). They are driven in
turns from one thread (Playwright's sync API belongs to one thread), but every step is
started for all three before any is waited on, so the server runs their scripts side by
side: the first imports of a fresh dashboard, one render queue, and each other's identical
videos in the Gallery.
"""

from __future__ import annotations

import re

import pytest

from .helpers import RENDER_MS, UI_MS, User

# Three browsers and three renders on two cores (about 30 s): the slow tier, run by CI.
pytestmark = pytest.mark.slow

USERS = 3
SCHEDULE = "0: a red circle\n2: a blue square"  # 3 frames


def test_three_users_at_once_see_no_traceback(browser, dashboard):
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in range(USERS)]
    try:
        for c in contexts:
            c.set_default_timeout(60_000)  # three sessions share two cores
        users = [User(c, dashboard) for c in contexts]
        for u in users:  # all three load the fresh dashboard together
            u.page.goto(dashboard.url, wait_until="commit")
        for u in users:
            u.expect(u.heading("Prompt Schedule")).to_be_visible(timeout=120_000)
            u.settle()
        # The same render three times (byte-identical videos), queued one behind another.
        for u in users:
            u.type("Schedule", SCHEDULE)
            u.type("Steps", 2)
        for u in users:
            u.main.get_by_role("button", name="Render", exact=True).click()
        # A queued render says where it is in the queue (or has already finished).
        last = users[-1]
        last.expect(
            last.main.get_by_text(
                re.compile(r"^Run \S+(: (queued|frame \d+ of 3|loading)| finished)")
            )
        ).to_be_visible(timeout=UI_MS)
        # Everyone leaves at once and comes back while the renders go on. The users 0 and 1
        # leave right after their click, which the server may not have handled yet: the
        # render must be queued all the same.
        for page in ("Gallery", "History", "Prompt Schedule"):
            for u in users:
                u.nav_link(page).click()
            for u in users:
                u.expect(u.heading(page)).to_be_visible(timeout=60_000)
                u.no_crash()
        run_ids = []
        for u in users:
            outcome = u.alert(r"Run \S+ (finished|failed|was cancelled)")
            u.expect(outcome).to_be_visible(timeout=RENDER_MS)
            found = re.search(r"Run (\S+) finished: 3 frames", outcome.inner_text())
            assert found, outcome.inner_text()
            run_ids.append(found.group(1))
            u.no_crash()
        assert len(set(run_ids)) == USERS
        for u in users:
            u.go("Gallery")
            u.expect(u.main.locator("video")).to_have_count(USERS, timeout=UI_MS)
            u.no_crash()
            assert not u.outside, f"requests to outside hosts: {sorted(set(u.outside))}"
        # Each tab's sidebar lists only its own renders: none is running now.
        for u in users:
            u.expect(u.sidebar.get_by_text(re.compile("other browser tabs"))).to_have_count(0)
    finally:
        for c in contexts:
            c.close()
