"""The first render: type a schedule, render, watch the progress, find the video in the Gallery."""

from __future__ import annotations

import re

from .helpers import PAGES, RENDER_MS, UI_MS, User

SCHEDULE = "0: a red circle\n4: a blue square"  # 5 frames
STEPS = 2  # so 5 x 2 = 10 denoise steps

# The render job records "progress was drawn" even if it comes and goes between two polls.
WATCH_PROGRESS = """
window.__sawProgress = false;
new MutationObserver(() => {
  if (document.querySelector('[data-testid="stMain"] [data-testid="stProgress"]'))
    window.__sawProgress = true;
}).observe(document, {childList: true, subtree: true});
"""


def _nav_names(user: User) -> list[str]:
    links = user.page.locator('[data-testid="stSidebarNav"] a[data-testid="stSidebarNavLink"]')
    return [
        links.nth(i).locator('[data-testid="stMarkdownContainer"]').inner_text().strip()
        for i in range(links.count())
    ]


def test_render_then_find_it_in_the_gallery(context, dashboard):
    context.add_init_script(WATCH_PROGRESS)
    user = User(context, dashboard).open()
    expect, main = user.expect, user.main
    assert sorted(_nav_names(user)) == sorted(PAGES), f"sidebar: {_nav_names(user)}"

    # Each field commits (and reruns) on its own; the plan's metrics show the app has them.
    user.type("Schedule", SCHEDULE)
    expect(user.metric("Frames")).to_have_text("5", timeout=UI_MS)
    expect(user.metric("Keyframes")).to_have_text("2", timeout=UI_MS)
    user.type("Steps", STEPS)
    expect(user.metric("Denoise steps")).to_have_text(str(5 * STEPS), timeout=UI_MS)

    main.get_by_role("button", name="Render", exact=True).click()
    # The user scrolls back up to the form while it renders.
    user.page.mouse.move(700, 400)
    user.page.mouse.wheel(0, -20_000)
    expect(user.heading("Prompt Schedule")).to_be_in_viewport()
    outcome = user.alert(r"Run \S+ (finished|failed|was cancelled)")
    expect(outcome).to_be_visible(timeout=RENDER_MS)
    message = outcome.inner_text()
    found = re.search(r"Run (\S+) finished: 5 frames,", message)
    assert found, f"the render did not finish: {message!r}"
    run_id = found.group(1)
    expect(main.locator("video")).to_have_count(1, timeout=UI_MS)
    # The result is where the user looks: scrolled into view, with its run's History link.
    expect(main.locator('[class*="st-key-ps_job_result"]')).to_be_in_viewport(timeout=UI_MS)
    expect(main.get_by_role("button", name=f"Open run {run_id} in History")).to_be_visible()
    assert user.page.evaluate("window.__sawProgress"), "no progress bar was drawn"
    user.no_crash()

    # The same settings again give a byte-identical video: both are in the Gallery.
    main.get_by_role("button", name="Render", exact=True).click()
    second = user.alert(rf"Run (?!{re.escape(run_id)})\S+ (finished|failed|was cancelled)")
    expect(second).to_be_visible(timeout=RENDER_MS)
    again = re.search(r"Run (\S+) finished: 5 frames,", second.inner_text())
    assert again, f"the second render did not finish: {second.inner_text()!r}"

    user.go("Gallery")
    expect(user.page).to_have_url(re.compile(r"/gallery$"), timeout=UI_MS)
    for rid in (run_id, again.group(1)):
        expect(main.get_by_text(rid).first).to_be_visible(timeout=UI_MS)
    expect(main.locator("video")).to_have_count(2, timeout=UI_MS)
    expect(main.get_by_role("button", name="Download MP4")).to_have_count(2)
    user.no_crash()
    assert sorted(_nav_names(user)) == sorted(PAGES), f"sidebar: {_nav_names(user)}"
    # Nothing on the way reached outside this machine.
    assert not user.outside, f"requests to outside hosts: {sorted(set(user.outside))}"
