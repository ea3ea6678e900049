"""The Sessions page through AppTest: listing a Hub repo, renaming, titles, deleting."""

from __future__ import annotations

import pytest

from db import Store, get_or_create_session, get_session, list_sessions
from tests.support.dashboard import widget_labels
from tests.support.hub import make_session


def by_label(widgets, label: str):
    (found,) = [w for w in widgets if w.label == label]
    return found


@pytest.fixture
def page(app, studio_home):
    """The Sessions page over two sessions: the sidebar's ``default`` and ``demo``."""
    store = Store.open(studio_home)
    with store.begin() as s:
        get_or_create_session(s, "default")
    make_session(store, "demo", runs=1)
    app.switch_page("pages/sessions.py").run()
    assert not app.exception, app.exception
    return app


def test_page_lists_a_repo_it_cannot_reach_with_an_error_at_once(page):
    page.text_input(key="sessions.repo").set_value("me/studio").run()
    page.button(key="sessions.list_remote").click().run()
    assert not page.exception, page.exception
    errors = [e.value for e in page.error]
    assert len(errors) == 1 and "me/studio" in errors[0], errors
    assert "reach the Hub" in errors[0], errors  # offline here: conftest sets HF_HUB_OFFLINE


def test_page_shows_the_renamed_session_after_a_rename(page, studio_home):
    assert page.selectbox(key="sessions.slug").value == "default"  # the sidebar's
    page.selectbox(key="sessions.slug").set_value("demo").run()
    page.text_input(key="sessions.new_name").set_value("Demo Two").run()
    page.button(key="sessions.rename").click().run()
    assert not page.exception, page.exception
    assert page.selectbox(key="sessions.slug").value == "demo-two"
    assert page.text_input(key="sessions.new_name").value == ""
    assert page.button(key="sessions.rename").disabled  # no second rename by a stray click
    with Store.open(studio_home).session() as s:
        assert sorted(x.slug for x in list_sessions(s)) == ["default", "demo-two"]


def test_page_keeps_a_just_saved_title_through_a_rename(page, studio_home):
    page.selectbox(key="sessions.slug").set_value("demo").run()
    by_label(page.text_input, "Title").set_value("Dusk studies")
    by_label(page.button, "Save").click().run()
    assert any("Saved session demo" in s.value for s in page.success)
    page.text_input(key="sessions.new_name").set_value("Demo Two").run()
    page.button(key="sessions.rename").click().run()
    assert not page.exception, page.exception
    with Store.open(studio_home).session() as s:
        assert get_session(s, "demo-two").title == "Dusk studies"
    # A session still titled by its old name takes the new one.
    page.selectbox(key="sessions.slug").set_value("default").run()
    page.text_input(key="sessions.new_name").set_value("Home base").run()
    page.button(key="sessions.rename").click().run()
    with Store.open(studio_home).session() as s:
        assert {x.slug: x.title for x in list_sessions(s)}["home-base"] == "Home base"


def test_page_has_no_two_widgets_with_one_label(page):
    page.text_input(key="sessions.repo").set_value("me/studio").run()
    labels = widget_labels(page)
    assert "Session" in labels  # the sidebar's current session
    assert len(labels) == len(set(labels)), sorted(labels)


def test_deleting_a_session_does_not_arm_the_next_delete(page, studio_home):
    page.selectbox(key="sessions.slug").set_value("demo").run()
    page.checkbox(key="sessions.confirm_delete").check().run()
    page.button(key="sessions.delete").click().run()
    assert any("Deleted session demo" in s.value for s in page.success)
    assert page.selectbox(key="sessions.slug").value == "default"
    assert page.button(key="sessions.delete").disabled


def test_page_says_why_it_refuses_a_title(page, studio_home):
    page.selectbox(key="sessions.slug").set_value("demo").run()
    by_label(page.text_input, "Title").set_value("   ")
    by_label(page.button, "Save").click().run()
    assert not page.exception, page.exception
    assert [e.value for e in page.error] == ["a session title must be 1-200 characters, got 0"]
    page.selectbox(key="sessions.slug").set_value("default").run()  # titled by its name
    page.text_input(key="sessions.new_name").set_value("x" * 201).run()
    page.button(key="sessions.rename").click().run()
    assert not page.exception, page.exception
    assert "got 201" in page.error[0].value
