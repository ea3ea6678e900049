"""CLI options and dashboard widgets are generated from the one description of each setting."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from studio.app.cli import build_parser
from studio.app.cli.generated import add_group_flags, apply_flags, flag_dest, flag_help
from studio.pipeline.builtin import (
    model_defaults,
    recommended_guidance,
    recommended_guidance_stop,
    recommended_size,
)
from studio.spec import AnimationSpec, BlendSpec
from studio.spec.blend import BlendOutputSettings
from studio.spec.common import DEFAULT_MODEL, DiffusionSettings
from studio.spec.fields import FieldDescription, describe

GROUPS = sorted(
    {
        type(getattr(spec(), name))
        for spec in (AnimationSpec, BlendSpec)
        for name in spec.model_fields
        if name != "schema_version"
    },
    key=lambda m: m.__name__,
)
# Fields whose option is written by hand: comma lists, prompts by position, paired inputs.
HAND_WRITTEN = {"sine_frequencies", "branches", "injection_strengths", "injection_steps"}


def _command(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.choices and name in a.choices]
    return commands.choices[name]


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {o: a for a in parser._actions for o in a.option_strings}


def _other_value(f: FieldDescription) -> str | None:
    """A command-line value of ``f`` inside its bounds and unlike its default (None: a switch)."""
    if f.type == "bool":
        return None
    if f.choices:
        return str(next(c for c in f.choices if c != f.default))
    if f.widget == "file":
        return "some/file.png"
    b = f.bounds
    if f.type == "int":
        value = b.get("multiple_of", b.get("ge", b.get("gt", -1) + 1))
        return str(value if value != f.default else value + int(f.step or 1))
    if f.type == "float":
        low = b.get("ge", b.get("gt", 0.0))
        value = low + 0.25 * ((b.get("le", b.get("lt", low + 1))) - low)
        return str(value if value != f.default else value / 2)
    return "0: (0.5)"


@pytest.mark.parametrize("model", GROUPS, ids=lambda m: m.__name__)
def test_each_generated_option_sets_its_field_and_nothing_else(model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    add_group_flags(parser, model, skip=tuple(HAND_WRITTEN))
    defaults = model() if model.__name__ != "BlendKeyframe" else None
    assert apply_flags(defaults, parser.parse_args([])) is defaults  # nothing given
    for f in describe(model):
        if f.flag is None or f.name in HAND_WRITTEN:
            continue
        value = _other_value(f)
        args = parser.parse_args([f.flag] if value is None else [f.flag, value])
        changed = apply_flags(defaults, args)
        assert getattr(changed, f.name) != f.default, f.flag
        if f.widget == "file":  # stored absolute, so that a re-run elsewhere finds it
            assert getattr(changed, f.name) == str(tmp_path / "some" / "file.png")
        others = {n for n in model.model_fields if getattr(changed, n) != getattr(defaults, n)}
        assert others == {f.name}, f.flag


def test_the_switches_follow_their_flag():
    args = _command("animate").parse_args(["--audio-timing", "--no-audio-mux", "--keep-audio"])
    assert (args.audio_timing, args.audio_mux, args.keep_audio) == (True, False, True)
    args = _command("animate").parse_args([])
    assert (args.audio_timing, args.audio_mux, args.keep_audio) == (None, None, None)


@pytest.mark.parametrize("command", ["animate", "blend"])
def test_every_spec_option_defaults_to_none_so_not_given_is_detectable(command):
    parser = _command(command)
    run_flags = {"-h", "--help", "--session", "--json", "--quiet"}
    for option, action in _options(parser).items():
        if option not in run_flags:
            assert action.default is None, option


def test_animate_and_blend_share_one_diffusion_block():
    animate, blend = _options(_command("animate")), _options(_command("blend"))
    for f in describe(DiffusionSettings):
        if f.flag is None:
            continue
        a, b = animate[f.flag], blend[f.flag]
        assert (a.dest, a.type, a.choices, a.help) == (b.dest, b.type, b.choices, b.help)
        assert a.dest == flag_dest(f) and a.help == flag_help(f, f.name == "scheduler")


def test_the_help_of_an_option_gives_its_bounds_and_what_0_means():
    animate, blend = _options(_command("animate")), _options(_command("blend"))
    assert "1 to 1000" in animate["--steps"].help
    assert "In [0, 1)" in animate["--guidance-stop"].help
    assert "A multiple of 8 up to 4096" in animate["--width"].help
    assert "0: one video frame" in blend["--duration"].help
    assert "0 to 3600 seconds" in blend["--duration"].help
    duration = next(f for f in describe(BlendOutputSettings) if f.name == "duration")
    quiet = dataclasses.replace(duration, help="Length of the video.")
    assert flag_help(quiet) == "Length of the video. 0 to 3600 seconds. 0: from the tree."
    assert "ddim, euler, euler_a" in blend["--scheduler"].help
    assert blend["--scheduler"].choices is None  # the check names what a blend allows
    assert animate["--dtype"].choices == ["auto", "float32", "float16", "bfloat16"]
    assert animate["--border"].choices == ["reflect", "replicate", "zero"]


def test_model_defaults_is_the_one_table_of_what_a_model_brings():
    for model in ("builtin:shapes", "builtin:tiny", "some/hub-model"):
        d = model_defaults(model)
        assert set(d) == {"width", "height", "guidance", "guidance_stop", "steps"}
        assert d["width"] == d["height"] == recommended_size(model)
        assert d["guidance"] == recommended_guidance(model)
        assert d["guidance_stop"] == recommended_guidance_stop(model)
        assert isinstance(d["steps"], int) and isinstance(d["guidance"], float)
        DiffusionSettings().replace(**d)  # every key is a diffusion setting, of its type
    assert model_defaults("builtin:tiny")["width"] == 64


def test_the_cli_takes_a_new_models_defaults_but_keeps_a_specs_steps(tmp_path):
    from studio.app.cli import spec_from_args

    parser = build_parser()
    spec = spec_from_args(parser.parse_args(["animate", "--prompts", "0: a", "--steps", "3"]))
    assert spec.diffusion.steps == 3
    assert spec.diffusion.width == model_defaults(DEFAULT_MODEL)["width"]
    path = tmp_path / "spec.json"
    path.write_text(spec.to_json())
    again = spec_from_args(
        parser.parse_args(["animate", "--spec", str(path), "--model", "builtin:tiny"])
    )
    assert (again.diffusion.steps, again.diffusion.width) == (3, 64)


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
                if f.widget in ("mapping", "keyframes", "list"):
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
