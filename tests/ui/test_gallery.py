"""The Gallery page's delete (issue 29, item 7): nothing goes on the first click; the
confirmation deletes the run, its outputs and its folder through the store's delete."""

from __future__ import annotations

import pytest

from db import Store, get_run
from db.errors import NotFound
from db.repository import list_outputs
from tests.support.hub import make_session


@pytest.fixture
def gallery(app, studio_home):
    store = Store.open(studio_home)
    make_session(store, "demo", runs=2)
    with store.session() as s:
        outputs = {o.run.id: o.id for o in list_outputs(s)}
    app.switch_page("pages/gallery.py").run()
    app.selectbox(key="gallery.session").set_value("demo").run()
    assert not app.exception, app.exception
    return app, store, outputs


def _exists(store: Store, run_id: str) -> bool:
    with store.session() as s:
        try:
            get_run(s, run_id)
        except NotFound:
            return False
    return True


def test_delete_asks_first_and_keep_it_keeps_it(gallery):
    at, store, outputs = gallery
    run_id, output_id = next(iter(outputs.items()))
    folder = store.home / "outputs" / "demo" / run_id
    at.button(key=f"gallery.delete.{output_id}").click().run()
    assert _exists(store, run_id) and folder.is_dir()  # the first click deletes nothing
    assert any(run_id in w.value and "Nothing can bring" in w.value for w in at.warning)
    at.button(key=f"gallery.keep.{output_id}").click().run()
    assert not at.warning and _exists(store, run_id)
    assert at.button(key=f"gallery.delete.{output_id}")  # asked again from the start


def test_the_confirmation_deletes_the_run_and_its_files(gallery):
    at, store, outputs = gallery
    (run_id, output_id), (other, _) = outputs.items()
    folder = store.home / "outputs" / "demo" / run_id
    at.button(key=f"gallery.delete.{output_id}").click().run()
    at.button(key=f"gallery.confirm_delete.{output_id}").click().run()
    assert not at.exception, at.exception
    assert not _exists(store, run_id) and not folder.exists()
    assert _exists(store, other)  # only the one asked for
    trash = store.home / ".trash"
    assert not trash.exists() or not any(trash.iterdir())  # emptied once the delete committed
    assert any(f"Deleted run {run_id}" in m.value for m in at.success)
    assert not any(run_id in m.value for m in at.markdown)  # its card is gone
