"""The LoRA picker on the Prompt Schedule and Blend pages, through AppTest on builtin:tiny."""

from __future__ import annotations

import re

from db import Store, list_runs
from tests.support.dashboard import render
from tests.support.lora import make_tiny_lora
from ui.text import WORD_JOINER


def tiny(app, prefix: str = "ps.") -> None:
    app.selectbox(key="sidebar.model").set_value("builtin:tiny").run()
    app.number_input(key=prefix + "width").set_value(64)
    app.number_input(key=prefix + "height").set_value(64)
    app.run()


def errors(app) -> list[str]:
    """The error messages as a person reads them (``ui.text.plain`` escapes a path's ``_``)."""
    return [re.sub(r"\\(.)", r"\1", e.value).replace(WORD_JOINER, "") for e in app.error]


def test_a_lora_from_the_home_folder_with_a_curve_is_rendered_recorded_and_restored(
    app, studio_home, manager
):
    make_tiny_lora(manager, studio_home / "loras" / "style.safetensors")
    (studio_home / "loras" / "notes.txt").write_text("not a LoRA")
    app.run()
    tiny(app)
    pick = app.multiselect(key="ps.lora.pick")
    assert pick.options == ["style.safetensors"]
    pick.set_value(["style.safetensors"]).run()
    weight = app.text_input(key="ps.lora.w.loras/style.safetensors")
    assert weight.value == "1"
    weight.set_value("0: (oops)").run()
    assert any("LoRA 1 (loras/style.safetensors) weight" in e for e in errors(app)), errors(app)
    app.text_input(key="ps.lora.w.loras/style.safetensors").set_value("0: (0), 1: (1)").run()
    assert not errors(app)

    job = render(app, "0: a red circle\n1: a blue square")
    assert job.status == "done", job.error
    with Store.open(studio_home).session() as s:
        (run,) = list_runs(s)
        assert run.spec["loras"] == {
            "adapters": [{"source": "loras/style.safetensors", "weight": "0: (0), 1: (1)"}]
        }
    run_id = job.meta["run_id"]

    # Cleared, then brought back by History's "restore settings".
    app.multiselect(key="ps.lora.pick").set_value([]).run()
    app.switch_page("pages/history.py").run()
    app.selectbox(key="history.run").set_value(run_id).run()
    app.button(key="history.restore").click().run()
    assert not app.exception, app.exception
    assert app.multiselect(key="ps.lora.pick").value == ["style.safetensors"]
    assert app.text_input(key="ps.lora.w.loras/style.safetensors").value == "0: (0), 1: (1)"


def test_the_blend_page_takes_a_typed_lora_with_a_number(app, studio_home):
    app.switch_page("pages/blend.py").run()
    assert not app.exception, app.exception
    source = str(studio_home / "elsewhere" / "ink.safetensors")
    app.text_area(key="blend.lora.other").set_value(source).run()
    weight = app.number_input(key=f"blend.lora.w.{source}")
    assert weight.value == 1.0
    weight.set_value(20.0).run()
    assert any(f"LoRA 1 ({source}): weight must be between -10 and 10" in e for e in errors(app))
    app.number_input(key=f"blend.lora.w.{source}").set_value(0.5).run()
    assert not errors(app)
    # Kept through a visit to another page.
    app.switch_page("pages/gallery.py").run()
    app.switch_page("pages/blend.py").run()
    assert app.text_area(key="blend.lora.other").value == source
    assert app.number_input(key=f"blend.lora.w.{source}").value == 0.5
    # The file does not exist: Render says so in one message, and records nothing.
    app.button(key="blend.render").click().run()
    assert not app.exception, app.exception
    assert any(f"LoRA 1: file {source} does not exist" in e for e in errors(app)), errors(app)
    with Store.open(studio_home).session() as s:
        assert list_runs(s) == []
