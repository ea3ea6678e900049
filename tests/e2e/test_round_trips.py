"""No page round trip changes what a form shows.

A user fills in Prompt Schedule and Blend, then for every ordered pair of pages (A, B) goes
A -> B -> A, touching a widget on B every other time (so both a page left untouched and a
page that reran are covered). Each time the user arrives at Prompt Schedule or Blend, the
form must show exactly what it showed when the user left it.
"""

from __future__ import annotations

import pytest

from .helpers import PAGES, User

# What the user does on each page: a widget that reruns the page.
_TOUCH = {
    "Prompt Schedule": ("Negative prompt", ["blurry", "grainy"]),
    "Blend": ("Seed", ["5", "6"]),
    "Gallery": ("Show", ["24", "12"]),
    "History": ("Search prompts", ["circle", ""]),
    "Sessions": ("Dataset repo", ["me/studio", ""]),
}
FORMS = ("Prompt Schedule", "Blend")


def round_trips(pages: list[str]) -> list[tuple[str, bool]]:
    """Page visits ``(page, touch)`` that go A -> B -> A for every ordered pair, touching B
    on every other pair."""
    visits = [(pages[0], False)]
    n = 0
    for a in pages:
        if visits[-1][0] != a:
            visits.append((a, False))
        for b in pages:
            if b != a:
                visits += [(b, n % 2 == 0), (a, False)]
                n += 1
    return visits


def test_the_walk_covers_every_round_trip():
    walk = [page for page, _ in round_trips(PAGES)]
    trips = {(a, b) for a, b, c in zip(walk, walk[1:], walk[2:], strict=False) if a == c != b}
    assert trips == {(a, b) for a in PAGES for b in PAGES if a != b}
    touched = {(p, t) for p, t in round_trips(PAGES)}
    assert all((p, True) in touched and (p, False) in touched for p in PAGES)


def _touch(user: User, page: str, n: int) -> None:
    if page == "Audio & Video":
        user.tick("Put the track into MP4 output")
        return
    label, values = _TOUCH[page]
    user.type(label, values[n % len(values)])


# One browser walk over every page's round trips (about 50 s on two cores): the slow tier,
# which CI runs as its own step; the default tier keeps test_first_render's browser flow.
@pytest.mark.slow
def test_every_page_round_trip_keeps_both_forms(context, dashboard):
    user = User(context, dashboard).open()

    # The user's own settings, none of them a default.
    user.type("Schedule", "0: a red circle\n6: a blue square on a white background")
    user.type("Steps", 3)
    user.type("Width", 64)
    user.type("Frames per second", 8)
    user.type("Guidance", 4.5)
    user.choose("Scheduler", "euler")
    expected = {"Prompt Schedule": user.form()}
    assert expected["Prompt Schedule"]["Width"] == "64"
    user.go("Blend")
    user.type("Prompts", "a red circle\na green triangle\na blue square")
    user.type("Frames per second", 6)
    expected["Blend"] = user.form()
    assert expected["Blend"]["Prompts"].startswith("a red circle")

    visits = round_trips(PAGES)
    path = []
    for n, (page, touch) in enumerate(visits):
        # Pages only passed through are left as soon as they show, as a hurried user does.
        user.go(page, settle=touch or page in expected)
        path.append(page)
        if page in expected:
            shown = user.form()
            changed = {
                k: (expected[page].get(k), v)
                for k, v in shown.items()
                if expected[page].get(k) != v
            }
            assert not changed, f"{page} changed after {' -> '.join(path[-3:])}: {changed}"
        if touch:
            _touch(user, page, n)
            user.no_crash()
            if page in expected:
                expected[page] = user.form()  # the touch is the user's newest value
    # Every page was drawn many times; none of them asked anything of another host.
    assert not user.outside, f"requests to outside hosts: {sorted(set(user.outside))}"
