"""Specs: exact JSON round trip, versioning, and errors that name the bad value."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.errors import CurveError, ScheduleError, SpecError
from studio.spec import (
    SCHEDULERS,
    SCHEMA_VERSION,
    AnimationSettings,
    AnimationSpec,
    AudioSettings,
    BlendAudioSettings,
    BlendKeyframe,
    BlendOutputSettings,
    BlendPromptSettings,
    BlendSettings,
    BlendSpec,
    DiffusionSettings,
    EditSettings,
    InputSettings,
    MotionSettings,
    OutputSettings,
    PromptSettings,
    UpscaleSettings,
    load_spec,
)
from studio.spec.control import ControlSettings
from studio.spec.fields import describe
from studio.spec.lora import AnimationLoras, BlendLoras

specs = st.builds(
    AnimationSpec,
    prompts=st.builds(PromptSettings, schedule=st.text(), negative_prompt=st.text()),
    diffusion=st.builds(
        DiffusionSettings,
        model=st.text(),
        scheduler=st.sampled_from(SCHEDULERS),
        scheduler_kwargs=st.dictionaries(st.text(), st.integers() | st.booleans() | st.text()),
        steps=st.integers(),
        guidance=st.floats(allow_nan=False, allow_infinity=False),
        width=st.integers(),
        height=st.integers(),
        seed=st.integers(0, 2**63 - 1),
    ),
    animation=st.builds(
        AnimationSettings,
        fps=st.integers(),
        interpolation=st.sampled_from(["slerp", "lerp"]),
        easing=st.sampled_from(["linear", "sine", "curve"]),
        sine_frequencies=st.lists(st.floats(0.1, 10), max_size=3).map(tuple),
        easing_curve=st.text(),
        latents=st.sampled_from(["keyframe", "fixed"]),
        batch_size=st.integers(),
    ),
    output=st.builds(OutputSettings, format=st.sampled_from(["mp4", "gif", "png"])),
)


numbers = st.floats(allow_nan=False, allow_infinity=False)
blend_specs = st.builds(
    BlendSpec,
    prompts=st.builds(
        BlendPromptSettings,
        keyframes=st.lists(
            st.builds(
                BlendKeyframe,
                prompt=st.text(),
                seed=st.none() | st.integers(0, 2**63 - 1),
                negative=st.none() | st.text(),
            ),
            max_size=4,
        ).map(tuple),
        negative_prompt=st.text(),
    ),
    diffusion=specs.map(lambda s: s.diffusion),
    blend=st.builds(
        BlendSettings,
        setup=st.sampled_from(["preset", "auto", "manual"]),
        preset=st.sampled_from(["lowest", "low", "medium", "high", "ultra"]),
        depth_strength=numbers,
        diffusion_frames=st.integers(),
        branches=st.lists(st.integers(), max_size=4).map(tuple),
        injection_strengths=st.lists(numbers, max_size=4).map(tuple),
        injection_steps=st.lists(st.integers(), max_size=4).map(tuple),
        insertion=st.sampled_from(["adaptive", "uniform"]),
        distance=st.sampled_from(["ssim", "latent"]),
        budget_steps=st.integers(),
        budget_seconds=numbers,
        crossfeed_power=numbers,
        crossfeed_range=numbers,
        crossfeed_decay=numbers,
        guidance_dampening=numbers,
        embeddings=st.sampled_from(["slerp", "lerp"]),
        inpaint_mask=st.text(),
        inpaint_image=st.text(),
    ),
    upscale=st.builds(
        UpscaleSettings,
        model=st.text(),
        steps=st.integers(),
        guidance=numbers,
        noise_level=st.integers(),
        scheduler=st.text(),
    ),
    output=st.builds(
        BlendOutputSettings,
        fps=st.integers(),
        duration=numbers,
        fill=st.sampled_from(["crossfade", "none"]),
        format=st.sampled_from(["mp4", "gif", "png"]),
    ),
)


@settings(max_examples=100, deadline=None)
@given(blend_specs)
def test_blend_json_round_trip_is_exact(spec):
    text = spec.to_json()
    again = load_spec(text)
    assert again == spec
    assert load_spec(json.loads(text)) == spec
    assert spec.to_dict() == json.loads(text)
    assert json.loads(text)["kind"] == "blend"


def test_blend_keyframe_seed_and_negative_may_be_null():
    data = BlendSpec().to_dict()
    assert data["prompts"]["keyframes"][0] == {
        "prompt": "a red circle on a black background",
        "seed": None,
        "negative": None,
    }
    data["prompts"]["keyframes"][0]["seed"] = "7"
    with pytest.raises(SpecError, match=r"blend.prompts.keyframes\[0\].seed must be an integer"):
        load_spec(data)
    with pytest.raises(SpecError, match="expected a spec of kind 'animation', got kind 'blend'"):
        AnimationSpec.from_dict(BlendSpec().to_dict())


@settings(max_examples=100, deadline=None)
@given(specs)
def test_json_round_trip_is_exact(spec):
    text = spec.to_json()
    again = load_spec(text)
    assert again == spec
    assert load_spec(json.loads(text)) == spec
    assert json.loads(text)["kind"] == "animation"
    assert json.loads(text)["schema_version"] == SCHEMA_VERSION


def test_defaults_are_valid():
    AnimationSpec().check()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"diffusion": {"width": 100}}, "width must be a positive multiple of 8, got 100"),
        ({"diffusion": {"steps": 0}}, "steps must be between 1 and 1000, got 0"),
        ({"diffusion": {"scheduler": "warp"}}, "unknown scheduler 'warp'"),
        ({"diffusion": {"guidance_stop": 1.0}}, r"guidance stop must be in \[0, 1\), got 1.0"),
        ({"diffusion": {"guidance_stop": -0.1}}, "guidance stop must be in"),
        ({"animation": {"fps": 0}}, "fps must be between 1 and 120, got 0"),
        ({"animation": {"batch_size": 0}}, "batch size must be between 1 and 256, got 0"),
        (
            {"animation": {"fps": 60}, "output": {"format": "gif"}},
            "GIF output plays at most 50 fps",
        ),
        ({"animation": {"easing": "curve", "easing_curve": ""}}, "needs an easing curve"),
        ({"animation": {"easing": "sine", "sine_frequencies": [0]}}, "frequencies"),
    ],
)
def test_check_names_the_bad_value(change, message):
    data = AnimationSpec().to_dict()
    for group, values in change.items():
        data[group].update(values)
    spec = load_spec(data)
    with pytest.raises(SpecError, match=message):
        spec.check()


def test_check_reads_the_schedule():
    spec = AnimationSpec(prompts=PromptSettings(schedule="0: a\nx: b"))
    with pytest.raises(ScheduleError) as info:
        spec.check()
    assert info.value.line == 2


@pytest.mark.parametrize(
    "data, message",
    [
        ({"kind": "hologram"}, "unknown spec kind 'hologram'"),
        ({"schema_version": SCHEMA_VERSION + 1}, "newer than this studio understands"),
        ({"schema_version": "1"}, "schema_version must be a positive integer"),
        ({"colour": "red"}, "unknown setting animation.colour"),
        ({"diffusion": {"steps": "20"}}, "animation.diffusion.steps must be an integer"),
        ({"diffusion": {"steps": True}}, "must be an integer"),
        ({"diffusion": {"attention_slicing": 1}}, "must be true or false"),
        ({"animation": {"interpolation": "cubic"}}, "must be one of slerp, lerp"),
        ({"animation": {"sine_frequencies": "1,2"}}, "must be a list"),
        ({"output": []}, "animation.output must be an object"),
    ],
)
def test_load_spec_errors_name_the_key(data, message):
    with pytest.raises(SpecError, match=message):
        load_spec(data)


# The slow tier's tests/unit/test_fuzz_parsers.py runs this property on 10,000 values.
@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_load_spec_fails_only_with_spec_error(data):
    with contextlib.suppress(SpecError):
        load_spec(data)


@pytest.mark.parametrize("kind", ["animation", "blend"])
def test_a_version_1_spec_keeps_guidance_on_every_step(kind):
    # Version 1 had no guidance_stop: every step was guided, and a re-run must do the same.
    data = {"kind": kind, "schema_version": 1, "diffusion": {"guidance": 5.0}}
    spec = load_spec(data)
    assert spec.schema_version == SCHEMA_VERSION == 2
    assert (spec.diffusion.guidance, spec.diffusion.guidance_stop) == (5.0, 0.0)
    assert load_spec({"kind": kind, "schema_version": 1}).diffusion.guidance_stop == 0.0
    # A current spec without the setting gets today's default, the shapes model's own.
    assert load_spec({"kind": kind}).diffusion.guidance_stop == DiffusionSettings().guidance_stop
    assert DiffusionSettings().guidance_stop > 0


def test_not_json_is_a_spec_error():
    with pytest.raises(SpecError, match="not valid JSON"):
        load_spec("{nope")


def test_diff_specs_lists_only_what_differs():
    from studio.spec import diff_specs

    a = AnimationSpec().to_dict()
    b = AnimationSpec(
        diffusion=DiffusionSettings(steps=30, seed=9), output=OutputSettings(format="gif")
    ).to_dict()
    assert diff_specs(a, a) == []
    assert diff_specs(a, b) == [
        ("diffusion.seed", 0, 9),
        ("diffusion.steps", 20, 30),
        ("output.format", "mp4", "gif"),
    ]
    b["diffusion"]["scheduler_kwargs"] = {"use_karras_sigmas": True}
    assert ("diffusion.scheduler_kwargs.use_karras_sigmas", None, True) in diff_specs(a, b)


MOTION_CURVES = ("zoom", "angle", "translate_x", "translate_y", "strength", "noise")


@pytest.mark.parametrize(
    ("group", "name", "value"),
    [("motion", name, "0.5") for name in MOTION_CURVES]
    + [
        ("motion", "coherence_noise", "0.05"),
        ("motion", "zoom", "1 + 0.05*audio"),
        ("animation", "easing_curve", "s**2"),
    ],
)
def test_every_curve_field_takes_a_bare_value(group, name, value):
    data = AnimationSpec().to_dict()
    data[group][name] = value
    if name == "easing_curve":
        data["animation"]["easing"] = "curve"
    load_spec(data).check()


@pytest.mark.parametrize(
    ("group", "name", "shown"),
    [("motion", name, name.replace("_", " ")) for name in MOTION_CURVES]
    + [
        ("motion", "coherence_noise", "coherence noise"),
        ("animation", "easing_curve", "easing curve"),
    ],
)
@pytest.mark.parametrize(("value", "column"), [("1 +", 4), ("0: (1), 5: (", 12)])
def test_a_bad_curve_names_its_field_line_and_column(group, name, shown, value, column):
    from studio.errors import CurveError

    data = AnimationSpec().to_dict()
    data[group][name] = value
    if name == "easing_curve":
        data["animation"]["easing"] = "curve"
    with pytest.raises(CurveError) as info:
        load_spec(data).check()
    assert (info.value.line, info.value.column) == (1, column)
    assert f"line 1, column {column}: {shown}: " in str(info.value), str(info.value)


def test_a_curve_that_fails_on_some_frame_names_its_field():
    from studio.animation.motion import evaluate_curves
    from studio.animation.plan import plan_animation
    from studio.errors import CurveError
    from studio.spec import MotionSettings

    spec = AnimationSpec(motion=MotionSettings(zoom="0: (1), 4: (log(t - 6))"))
    spec.check()  # a value that reads t is only known frame by frame
    with pytest.raises(CurveError, match="column 13: zoom: .* at frame 4"):
        evaluate_curves(spec.motion, 10)
    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a\n9: b"),
        animation=AnimationSettings(easing="curve", easing_curve="log(t - 4)"),
    )
    spec.check()
    with pytest.raises(CurveError, match="column 1: easing curve: .* at frame 0"):
        plan_animation(spec)


# -- one description per field -------------------------------------------------------------

GROUPS = {
    "animation": {
        "prompts": PromptSettings,
        "diffusion": DiffusionSettings,
        "animation": AnimationSettings,
        "output": OutputSettings,
        "input": InputSettings,
        "motion": MotionSettings,
        "audio": AudioSettings,
        "edit": EditSettings,
        "loras": AnimationLoras,
        "control": ControlSettings,
        "upscale": UpscaleSettings,
    },
    "blend": {
        "prompts": BlendPromptSettings,
        "diffusion": DiffusionSettings,
        "blend": BlendSettings,
        "upscale": UpscaleSettings,
        "output": BlendOutputSettings,
        "audio": BlendAudioSettings,
        "loras": BlendLoras,
        "control": ControlSettings,
    },
}
WIDGETS = {"text", "textarea", "curve", "file", "number", "select", "checkbox", "list", "mapping"}
WIDGETS |= {"keyframes", "loras", "controlnets"}
ALL_GROUPS = sorted(
    {(kind, group, model) for kind, groups in GROUPS.items() for group, model in groups.items()},
    key=lambda t: (t[0], t[1]),
)


def test_the_groups_listed_here_are_every_group_of_every_kind():
    for kind, spec in (("animation", AnimationSpec), ("blend", BlendSpec)):
        fields = spec.model_fields
        groups = {
            name: info.annotation for name, info in fields.items() if name != "schema_version"
        }
        assert groups == GROUPS[kind]


@pytest.mark.parametrize(
    ("kind", "group", "model"), ALL_GROUPS, ids=lambda v: getattr(v, "__name__", v)
)
def test_describe_covers_every_field_of_every_group(kind, group, model):
    described = describe(model)
    assert [f.name for f in described] == list(model.model_fields)
    defaults = model()
    for f in described:
        assert f.group == group, f.name
        assert f.help and f.label and f.type, f.name
        assert f.widget in WIDGETS, (f.name, f.widget)
        value = getattr(defaults, f.name)
        assert f.default == (list(value) if isinstance(value, tuple) else value), f.name
        if f.choices is not None:
            assert f.default in f.choices or f.name == "keyframes", f.name
        assert f.flag is None or f.flag.startswith("--"), f.name
        assert set(f.bounds) <= {"ge", "gt", "le", "lt", "multiple_of"}, f.name


def test_describe_reads_type_bounds_choices_and_hints():
    steps, guidance_stop, width = (
        next(f for f in describe(DiffusionSettings) if f.name == name)
        for name in ("steps", "guidance_stop", "width")
    )
    assert (steps.type, steps.bounds, steps.default, steps.flag) == (
        "int",
        {"ge": 1, "le": 1000},
        20,
        "--steps",
    )
    assert guidance_stop.bounds == {"ge": 0, "lt": 1} and guidance_stop.type == "float"
    assert width.bounds == {"gt": 0, "le": 4096, "multiple_of": 8}
    scheduler = next(f for f in describe(DiffusionSettings) if f.name == "scheduler")
    assert scheduler.choices == SCHEDULERS and scheduler.widget == "select"
    interpolation = next(f for f in describe(AnimationSettings) if f.name == "interpolation")
    assert interpolation.choices == ("slerp", "lerp") and interpolation.type == "str"
    schedule = next(f for f in describe(PromptSettings) if f.name == "schedule")
    assert (schedule.widget, schedule.flag) == ("textarea", "--prompts")
    assert next(f for f in describe(DiffusionSettings) if f.name == "scheduler_kwargs").flag is None
    frequencies = next(f for f in describe(AnimationSettings) if f.name == "sine_frequencies")
    assert (frequencies.type, frequencies.widget) == ("list[float]", "list")
    keyframe = {f.name: f for f in describe(BlendKeyframe)}
    assert keyframe["seed"].type == "int" and keyframe["seed"].group is None


@pytest.mark.parametrize("kind", ["animation", "blend"])
def test_every_described_flag_is_an_option_of_the_cli(kind):
    from studio.app.cli import build_parser

    command = {"animation": "animate", "blend": "blend"}[kind]
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.choices and command in a.choices]
    options = {o for a in commands.choices[command]._actions for o in a.option_strings}
    for group, model in GROUPS[kind].items():
        for f in describe(model):
            assert f.flag is None or f.flag in options, (kind, group, f.name, f.flag)


def _outside(f):
    """A value of field ``f`` that its bounds refuse."""
    b = f.bounds
    if "multiple_of" in b:
        return b["multiple_of"] + 1
    if "ge" in b:
        return b["ge"] - 1
    if "gt" in b:
        return b["gt"]
    return b.get("le", b.get("lt")) + 1


@pytest.mark.parametrize(
    ("kind", "group", "model"), ALL_GROUPS, ids=lambda v: getattr(v, "__name__", v)
)
def test_check_refuses_every_bound_and_names_the_setting(kind, group, model):
    spec_class = {"animation": AnimationSpec, "blend": BlendSpec}[kind]
    for f in describe(model):
        if not f.bounds:
            continue
        value = _outside(f)
        value = float(value) if f.type == "float" else int(value)
        data = spec_class().to_dict()
        data[group][f.name] = value
        if group == "upscale":
            data["upscale"]["model"] = "an/upscaler"  # its ranges count only when it is used
        with pytest.raises(SpecError, match=f"{f.label} must be .*got {value}"):
            load_spec(data).check()


def test_group_replace_checks_types_and_names():
    d = DiffusionSettings()
    assert d.replace(steps=30) == DiffusionSettings(steps=30)
    assert d.replace() == d and d.replace(steps=30) is not d
    with pytest.raises(SpecError, match="steps must be an integer, got '30'"):
        d.replace(steps="30")
    with pytest.raises(SpecError, match="unknown setting stesp"):
        d.replace(stesp=30)
    spec = AnimationSpec().replace(diffusion=d.replace(seed=7))
    assert spec.diffusion.seed == 7 and spec.prompts == PromptSettings()
    assert BlendKeyframe("a", seed=3) == BlendKeyframe(prompt="a", seed=3)
    assert BlendSettings().replace(branches=[2, 3]).branches == (2, 3)


def test_the_committed_json_schemas_are_what_the_command_writes(tmp_path):
    from studio.spec.schema import SCHEMA_DIR, main, schema_files

    files = schema_files()
    assert sorted(files) == ["animation.json", "blend.json"]
    for name, text in files.items():
        assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == text, (
            f"docs/spec-schema/{name} is out of date: run python -m studio.spec.schema"
        )
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "blend.json").write_text("{}", encoding="utf-8")
    assert main(["--out", str(tmp_path), "--check"]) == 1


def test_the_json_schema_describes_each_field_once():
    from studio.spec.schema import kind_schema

    schema = kind_schema("animation")
    assert list(schema["properties"])[:2] == ["kind", "prompts"]
    steps = schema["$defs"]["DiffusionSettings"]["properties"]["steps"]
    assert (steps["type"], steps["minimum"], steps["maximum"], steps["default"]) == (
        "integer",
        1,
        1000,
        20,
    )
    assert steps["description"]
    assert schema["$defs"]["DiffusionSettings"]["x-studio"] == {"group": "diffusion"}
    blend = kind_schema("blend")
    assert blend["properties"]["kind"]["const"] == "blend"
    preset = blend["$defs"]["BlendSettings"]["properties"]["preset"]
    assert preset["enum"] == ["lowest", "low", "medium", "high", "ultra"]


# -- check() is pure: the media files are checked by the render kind ------------------------


def test_check_opens_no_file():
    missing = "/nonexistent/studio-test/missing"
    AnimationSpec(input=InputSettings(video=missing + ".mp4")).check()
    AnimationSpec(input=InputSettings(image=missing + ".png")).check()
    AnimationSpec(audio=AudioSettings(path=missing + ".wav", timing=True)).check()
    BlendSpec(blend=BlendSettings(inpaint_mask=missing + ".png")).check()


@pytest.mark.parametrize("group", ["video", "image"])
def test_check_inputs_finds_a_missing_input_file(group):
    from studio.errors import MediaError
    from studio.media.inputs import check_inputs

    spec = AnimationSpec(input=InputSettings(**{group: "/nonexistent/studio-test/missing"}))
    with pytest.raises(MediaError, match="missing"):
        check_inputs(spec)


def test_check_audio_finds_a_missing_audio_file():
    from studio.errors import MediaError
    from studio.media.audio import check_audio

    spec = AnimationSpec(audio=AudioSettings(path="/nonexistent/studio-test/missing.wav"))
    with pytest.raises(MediaError, match="missing.wav"):
        check_audio(spec.audio.path)


def test_the_edit_group_checks_its_mask_and_image_guidance_curve():
    from studio.spec import AnimationSpec, EditSettings

    spec = AnimationSpec()
    assert spec.edit == EditSettings(mask="", image_guidance="0: (1.5)")
    with pytest.raises(SpecError, match="a mask marks what to repaint of the input"):
        spec.replace(edit=EditSettings(mask="mask.png")).check()
    with_input = spec.replace(input=spec.input.replace(image="in.png"))
    with_input.replace(edit=EditSettings(mask="mask.png", image_guidance="1.5")).check()
    with pytest.raises(CurveError, match="image guidance"):
        spec.replace(edit=EditSettings(image_guidance="0: (1.5")).check()
    with pytest.raises(SpecError, match="image guidance curve is empty"):
        spec.replace(edit=EditSettings(image_guidance=" ")).check()
