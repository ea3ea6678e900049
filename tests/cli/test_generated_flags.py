"""CLI options are generated from the one description of each setting (studio.app.cli.generated)."""

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
HAND_WRITTEN = {"sine_frequencies", "branches", "injection_strengths", "injection_steps", "times"}


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
    run_flags = {"-h", "--help", "--session", "--json", "--quiet", "--plan"}
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


def test_the_hand_written_comma_lists_reach_the_spec_beside_the_generated_options():
    from studio.app.cli import blend_spec_from_args

    args = build_parser().parse_args(
        ["blend", "a", "b", "--steps", "10", "--branches", "2,3", "--injection-steps", "3,6"]
    )
    blend = blend_spec_from_args(args).blend
    assert (blend.setup, blend.branches, blend.injection_steps) == ("manual", (2, 3), (3, 6))
