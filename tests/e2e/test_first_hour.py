"""A new user's first hour, in one browser tab: every page, the way the README tells it.

Own schedule -> render; a soundtrack whose beats become key frames of that schedule; a video
as input; a blend; the Gallery sending a frame back as input; History's search, compare,
restore and re-run; Sessions' annotate, rename and delete. Between the steps the user goes
back and forth between pages, and nothing typed is lost on the way.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from .helpers import RENDER_MS, UI_MS, User

# Two long flows (about a minute together): the slow tier, which CI runs as its own step.
pytestmark = pytest.mark.slow

SCHEDULE = "0: a red circle on a black background\n4: a blue square on a black background"


@pytest.fixture
def clicks_wav(tmp_path):
    """Two seconds of silence with a click every half second (onsets at 0.5, 1.0, 1.5 s)."""
    import soundfile

    rate = 22050
    samples = np.zeros(2 * rate, np.float32)
    for t in (0.5, 1.0, 1.5):
        start = int(t * rate)
        samples[start : start + 200] = np.hanning(200) * 0.9
    path = tmp_path / "clicks.wav"
    soundfile.write(path, samples, rate)
    return path


@pytest.fixture
def small_video(tmp_path):
    from tests.support.media import make_video

    return make_video(tmp_path / "input.mp4", frames=6, fps=6, width=64, height=64)


def _render(user: User, frames: int) -> str:
    """Press Render, wait for the outcome, return the run id."""
    before = user.main.locator('[data-testid^="stAlertContent"]').filter(
        has_text=re.compile("finished")
    )
    old = {before.nth(i).inner_text() for i in range(before.count())}
    user.main.get_by_role("button", name="Render", exact=True).click()
    outcome = user.alert(r"Run \S+ (finished|failed|was cancelled)").filter(
        has_not_text=re.compile("|".join(re.escape(o) for o in old) or "^$")
    )
    user.expect(outcome.first).to_be_visible(timeout=RENDER_MS)
    text = outcome.first.inner_text()
    found = re.search(rf"Run (\S+) finished: {frames} frames", text)
    assert found, f"render did not finish as expected: {text!r}"
    user.no_crash()
    return found.group(1)


def test_first_hour(context, dashboard, clicks_wav, small_video):
    user = User(context, dashboard).open()
    expect = user.expect

    # 1. The first render, with an own schedule.
    user.type("Schedule", SCHEDULE)
    user.type("Steps", 2)
    expect(user.metric("Frames")).to_have_text("5")
    first = _render(user, 5)
    expect(user.main.locator("video")).to_have_count(1)

    # 2. A soundtrack: its beats become key frames of the schedule, prompts kept.
    user.go("Audio & Video")
    user.main.locator('[data-testid="stFileUploader"]').filter(has_text="Audio file").locator(
        'input[type="file"]'
    ).set_input_files(str(clicks_wav))
    expect(user.main.get_by_text(re.compile(r"Track: "))).to_be_visible(timeout=UI_MS)
    user.click("Detect key frames")
    expect(user.main.get_by_text(re.compile(r"\d+ key frames"))).to_be_visible(timeout=60_000)
    user.click("Write key frames into the schedule")
    expect(user.alert("Schedule updated")).to_be_visible()
    user.go("Prompt Schedule")
    schedule = user.form()["Schedule"]
    assert "a red circle on a black background" in schedule, schedule
    assert len(re.findall(r"^\d+", schedule, re.M)) > 2, schedule
    user.go("Audio & Video")
    user.click("Remove track")
    user.go("Prompt Schedule")
    user.type("Schedule", SCHEDULE)

    # 3. A video as input: it sets the frame count (6 frames at the schedule's fps).
    user.go("Audio & Video")
    user.main.locator('[data-testid="stFileUploader"]').filter(has_text="Video or image").locator(
        'input[type="file"]'
    ).set_input_files(str(small_video))
    expect(user.main.get_by_role("button", name="Remove input", exact=True)).to_be_visible(
        timeout=UI_MS
    )
    user.no_crash()
    user.go("Prompt Schedule")
    user.no_crash()
    expect(user.metric("Frames")).to_have_text("6")  # the clip sets fps 6: its 6 frames
    video_run = _render(user, 6)
    user.go("Audio & Video")
    user.click("Remove input")
    user.go("Prompt Schedule")

    # 4. A blend between three prompts.
    user.go("Blend")
    user.type("Prompts", "a red circle\na green triangle\na blue square")
    user.type("Steps", 3)
    blend_frames = int(user.metric("Video frames").inner_text())
    blend_run = _render(user, blend_frames)

    # 5. The Gallery has every run; one frame goes back to the input.
    user.go("Gallery")
    for run_id in (first, video_run, blend_run):
        expect(user.main.get_by_text(run_id).first).to_be_visible()
    user.main.get_by_role("button", name="Send to input").first.click()
    user.page.get_by_role("button", name="Frame → image input").first.click()
    expect(user.page.get_by_text(re.compile(r"Frame 0 is the image input"))).to_be_visible()
    user.no_crash()
    user.go("Audio & Video")
    expect(user.main.get_by_text(re.compile(r"frame0\.png"))).to_be_visible()
    user.click("Remove input")

    # History and Sessions: test_history_and_sessions, on the same dashboard.
    user.go("Prompt Schedule")
    assert user.form()["Schedule"] == SCHEDULE
    user.no_crash()
    assert not user.outside, f"requests to outside hosts: {sorted(set(user.outside))}"


def test_history_and_sessions(context, dashboard):
    user = User(context, dashboard).open()
    expect = user.expect
    red = "0: a red circle on a black background\n2: a blue square on a black background"
    green = "0: a green triangle on a white background\n2: a blue square on a black background"
    user.type("Steps", 2)
    user.type("Schedule", red)
    first = _render(user, 3)
    user.type("Schedule", green)
    second = _render(user, 3)
    user.type("Schedule", "0: a yellow circle")  # to be replaced by Restore

    # Search narrows the runs to the one with a green triangle on white (the dashboard may
    # hold other tests' runs, a blend with "a green triangle" among them).
    user.go("History")
    user.type("Search prompts", "green triangle on a white")
    expect(user.main.get_by_text(re.compile(r"^1 of \d+ runs"))).to_be_visible()
    assert user.form()["Run"] == second
    user.type("Search prompts", "")

    # Compare the two runs: the schedule differs, the table shows both values.
    user.choose("Run", second)
    user.main.get_by_role("tab", name="Compare").click()
    user.choose("Compare with", first)
    table = user.main.get_by_role("tabpanel", name="Compare").locator('[data-testid="stTable"]')
    expect(table).to_contain_text("prompts.schedule")
    expect(table).to_contain_text("green triangle")
    user.no_crash()

    # Restore brings the run's settings back into Prompt Schedule.
    user.click("Restore settings")
    user.expect(user.heading("Prompt Schedule")).to_be_visible(timeout=UI_MS)
    user.settle()
    assert user.form()["Schedule"] == green

    # Re-run reproduces the first run's file exactly.
    user.go("History")
    user.choose("Run", first)
    user.click("Re-run")
    expect(user.alert(rf"Re-run of {re.escape(first)}")).to_be_visible(timeout=RENDER_MS)
    expect(user.alert(rf"Re-run of {re.escape(first)}")).to_contain_text("identical")
    user.no_crash()

    # Sessions: annotate, rename (the title stays), delete after confirming.
    user.go("Sessions")
    assert user.form()["Session to edit"] == "default"
    user.main.locator('input[aria-label="Title"]').fill("My first hour")
    user.main.locator('textarea[aria-label="Notes"]').fill("[not a link](http://127.0.0.1:9/x)")
    user.main.locator('input[aria-label="Tags (comma-separated)"]').fill("shapes, demo")
    user.click("Save")
    expect(user.alert("Saved session default")).to_be_visible()
    user.type("Rename to", "first-hour")
    user.click("Rename")
    form = user.form()
    assert form["Session to edit"] == "first-hour" and form["Rename to"] == "", form
    assert form["Title"] == "My first hour", form
    user.go("History")
    # The notes, someone's text, show as the characters typed, not as a link.
    expect(user.main.get_by_text(re.compile(r"\[not a link\]\(http"))).not_to_have_count(0)
    expect(user.main.locator('a[href*="127.0.0.1:9"]')).to_have_count(0)
    user.go("Sessions")
    user.expect(user.main.get_by_role("button", name="Delete session")).to_be_disabled()
    user.tick("Delete first-hour")
    user.click("Delete session")
    expect(user.alert(r"Deleted session first-hour and its \d+ runs")).to_be_visible()
    expect(
        user.main.locator('input[aria-label="Session to edit"][value="first-hour"]')
    ).to_have_count(0)
    user.no_crash()
    assert not user.outside, f"requests to outside hosts: {sorted(set(user.outside))}"
