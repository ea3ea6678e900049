"""Dashboard widgets are generated from the one description of each setting (ui.fields)."""

from __future__ import annotations

from studio.spec import AnimationSpec, BlendSpec
from studio.spec.common import DiffusionSettings
from studio.spec.fields import describe


def test_widget_options_come_from_the_description():
    from ui.fields import widget_options

    d = {f.name: f for f in describe(DiffusionSettings)}
    assert widget_options(d["steps"]) == {"min_value": 1, "max_value": 1000, "step": 1}
    stop = widget_options(d["guidance_stop"])
    assert (stop["min_value"], stop["max_value"], stop["format"]) == (0.0, 0.99, "%.2f")
    assert widget_options(d["width"])["min_value"] == 8
    assert widget_options(d["seed"])["max_value"] == 2**53 - 1  # what a browser can hold
    from studio.spec.blend import BlendSettings

    depth = next(f for f in describe(BlendSettings) if f.name == "depth_strength")
    assert widget_options(depth) == {"min_value": 0.05, "max_value": 0.95, "step": 0.05}
    assert widget_options(depth, 0.01) == {"min_value": 0.01, "max_value": 0.99, "step": 0.01}


def test_the_form_tables_keep_the_widget_keys_users_and_tests_know():
    from ui.blend_form import FIELDS as BLEND
    from ui.spec_form import FIELDS as PS

    diffusion = ("scheduler", "steps", "guidance", "guidance_stop", "width", "height", "seed")
    assert {f"ps.{n}" for n in diffusion} | {"ps.schedule", "ps.negative", "ps.frequencies"} < set(
        PS
    )
    assert {"ps.curve", "ps.batch", "ps.format", "av.audio", "av.mux", "av.keep_audio"} < set(PS)
    assert PS["ps.negative"] == ("prompts", "negative_prompt")
    assert PS["av.audio"] == ("audio", "path")
    assert {f"blend.{n}" for n in diffusion} < set(BLEND)
    assert BLEND["blend.upscale_noise"] == ("upscale", "noise_level")
    assert BLEND["blend.depth"] == ("blend", "depth_strength")
    assert not {"blend.branches", "blend.budget_steps", "blend.keyframes"} & set(BLEND)
    # Every field a page holds, and every field of a group, once.
    for table, spec in ((PS, AnimationSpec), (BLEND, BlendSpec)):
        assert len(set(table.values())) == len(table)
        for group, name in table.values():
            assert name in spec.model_fields[group].annotation.model_fields


def _draw_every_field() -> None:
    import streamlit as st

    from studio.spec import AnimationSpec, BlendSpec
    from studio.spec.fields import describe
    from ui.fields import draw_field

    for spec in (AnimationSpec, BlendSpec):
        for group in spec.model_fields:
            if group == "schema_version":
                continue
            model = spec.model_fields[group].annotation
            for f in describe(model):
                if f.widget in ("mapping", "keyframes", "list", "loras", "controlnets"):
                    continue
                key = f"{spec.kind}.{group}.{f.name}"
                st.session_state.setdefault(key, f.default)
                draw_field(st, f, key)


def test_every_described_field_draws_as_its_widget():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_draw_every_field).run()
    assert not at.exception, at.exception
    assert at.number_input(key="animation.diffusion.steps").value == 20
    assert at.selectbox(key="blend.blend.preset").options == [
        "lowest",
        "low",
        "medium",
        "high",
        "ultra",
    ]
    assert at.checkbox(key="animation.audio.mux").value is True
    assert at.text_area(key="animation.prompts.schedule").value.startswith("0: ")


def _two_diffusion_blocks() -> None:
    import streamlit as st

    from studio.pipeline.builtin import model_defaults
    from studio.spec import BLEND_SCHEDULERS, SCHEDULERS
    from studio.spec.common import DiffusionSettings
    from ui.fields import DIFFUSION_FIELDS, draw_diffusion

    defaults = {**DiffusionSettings().model_dump(), **model_defaults("builtin:tiny")}
    for prefix in ("ps.", "blend."):
        for name in DIFFUSION_FIELDS:
            st.session_state.setdefault(prefix + name, defaults[name])
    draw_diffusion("ps.", SCHEDULERS).write("the page's own column")
    draw_diffusion("blend.", BLEND_SCHEDULERS, min_steps=2)


def test_both_pages_draw_one_diffusion_block_with_their_kinds_limits():
    from streamlit.testing.v1 import AppTest

    from studio.spec import BLEND_SCHEDULERS, SCHEDULERS

    at = AppTest.from_function(_two_diffusion_blocks).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="ps.scheduler").options == list(SCHEDULERS)
    assert at.selectbox(key="blend.scheduler").options == list(BLEND_SCHEDULERS)
    assert (at.number_input(key="ps.steps").min, at.number_input(key="blend.steps").min) == (1, 2)
    for prefix in ("ps.", "blend."):
        assert at.number_input(key=prefix + "width").value == 64  # builtin:tiny's own
        assert at.number_input(key=prefix + "guidance_stop").max == 0.99
        assert at.number_input(key=prefix + "seed").max == 2**53 - 1
        labels = [w.label for w in at.number_input if w.key.startswith(prefix)]
        assert labels == ["Steps", "Guidance", "Guidance stop", "Width", "Height", "Seed"]
    assert "the page's own column" in at.markdown[0].value
