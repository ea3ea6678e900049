"""The sidebar's *Log runs to MLflow* reaches the render: off at first; on, without the
package, the page says how to install it and nothing is recorded."""

from __future__ import annotations

import sys

from db import Store, list_runs


def test_the_toggle_is_off_and_on_asks_for_the_package_when_missing(app, studio_home, monkeypatch):
    toggle = app.toggle(key="sidebar.mlflow")
    assert toggle.value is False
    assert not [t for t in app.text_input if t.key == "sidebar.mlflow_uri"]
    toggle.set_value(True).run()
    app.text_input(key="sidebar.mlflow_uri").set_value("http://127.0.0.1:5000").run()
    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    app.text_area(key="ps.schedule").set_value("0: a red circle").run()
    app.button(key="ps.render").click().run()
    assert not app.exception
    assert any("needs the mlflow package: pip install mlflow-skinny" in e.value for e in app.error)
    with Store.open(studio_home).session() as s:
        assert list_runs(s) == []
