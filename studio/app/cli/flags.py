"""Render flags: the ``animate`` and ``blend`` options, and the spec they describe.

``add_animate_parser`` and ``add_blend_parser`` add the two render commands to the command
tree; ``spec_from_args`` and ``blend_spec_from_args`` turn their parsed flags into a checked
spec: ``--spec`` (or the defaults) with each flag that was given applied. Every flag that is
not given is None, so that it changes nothing.

A setting's option is generated from its description (``studio.app.cli.generated``), group
by group; the diffusion group's by one function both commands share. Written here by hand,
next to them: options a description cannot carry (comma lists, prompts by position) and
those of the run, not of the spec (``--out``, ``--json``...). ``--prompts`` and the two
inputs are generated too, into groups of options that exclude each other.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from studio.app.cli.control import add_control_flags, control_from_args
from studio.app.cli.files import format_from_args, read_text
from studio.app.cli.generated import add_flag, add_group_flags, apply_flags, described, given_values
from studio.app.cli.loading import (
    add_loading_flags,
    extra_diffusion_values,
    warn_custom_pipeline,
)
from studio.app.cli.lora import add_lora_flag, animation_loras, blend_loras
from studio.errors import SpecError
from studio.spec import AnimationSpec, BlendKeyframe, BlendSpec, load_spec
from studio.spec.animation import (
    AnimationSettings,
    AudioSettings,
    InputSettings,
    MotionSettings,
    OutputSettings,
    PromptSettings,
)
from studio.spec.blend import (
    BlendAudioSettings,
    BlendOutputSettings,
    BlendPromptSettings,
    BlendSettings,
)
from studio.spec.common import DiffusionSettings
from studio.spec.edit import EditSettings
from studio.spec.upscale import UpscaleSettings

_Group = TypeVar("_Group", bound=BaseModel)  # a spec settings group

__all__ = [
    "add_animate_parser",
    "add_blend_parser",
    "add_diffusion_flags",
    "add_mlflow_flags",
    "blend_spec_from_args",
    "diffusion_from_args",
    "spec_from_args",
]


def add_animate_parser(commands: argparse._SubParsersAction) -> None:
    """The ``animate`` command and its flags, on the ``commands`` subparsers."""
    animate = commands.add_parser("animate", help="render a keyframed prompt animation")
    source = animate.add_mutually_exclusive_group()
    add_flag(source, described(PromptSettings, "schedule"))
    source.add_argument("--prompts-file", type=Path, help="read the schedule from a text file")
    animate.add_argument(
        "--spec", type=Path, help="start from a saved spec (JSON); flags override it"
    )
    add_group_flags(animate, PromptSettings, skip=("schedule",))
    add_diffusion_flags(animate)
    add_group_flags(animate, AnimationSettings, skip=("sine_frequencies",))
    animate.add_argument("--sine-frequencies", help="comma-separated, e.g. 1,3")
    add_group_flags(animate, OutputSettings)
    _add_run_flags(animate)
    add_group_flags(animate, AudioSettings)
    inputs = animate.add_mutually_exclusive_group()
    add_flag(inputs, described(InputSettings, "video"))
    add_flag(inputs, described(InputSettings, "image"))
    add_group_flags(animate, InputSettings, skip=_INPUTS)
    add_group_flags(animate, MotionSettings)
    add_group_flags(animate, EditSettings)  # inpainting / InstructPix2Pix: --mask, --image-guidance
    add_lora_flag(animate, curve=True)
    add_control_flags(animate)
    add_group_flags(animate, UpscaleSettings, open_choices=("scheduler",))


_INPUTS = ("image", "video")  # one or the other: a mutually exclusive pair of flags
_TREE_LISTS = ("branches", "injection_strengths", "injection_steps")  # comma lists


def add_blend_parser(commands: argparse._SubParsersAction) -> None:
    """The ``blend`` command and its flags, on the ``commands`` subparsers."""
    blend = commands.add_parser(
        "blend", help="render latent-blending transitions through two or more prompts"
    )
    blend.add_argument("prompts", nargs="*", metavar="PROMPT", help="two or more, in order")
    blend.add_argument(
        "--spec", type=Path, help="start from a saved blend spec (JSON); flags override it"
    )
    add_group_flags(blend, BlendPromptSettings)
    blend.add_argument("--seeds", help="one seed per prompt, comma-separated (default: --seed + i)")
    add_diffusion_flags(blend)
    add_group_flags(blend, BlendSettings, skip=_TREE_LISTS)
    blend.add_argument("--branches", help="manual tree: new frames per level, e.g. 2,3")
    blend.add_argument("--injection-strengths", help="manual tree: per level, e.g. 0.4,0.7")
    blend.add_argument("--injection-steps", help="manual tree: per level, e.g. 8,14")
    add_group_flags(blend, UpscaleSettings, open_choices=("scheduler",))
    add_group_flags(blend, BlendOutputSettings)
    add_group_flags(blend, BlendAudioSettings, skip=("times",))
    blend.add_argument(
        "--times", help="with --audio: seconds at which each prompt is reached, e.g. 0,4.5,9"
    )
    add_lora_flag(blend, curve=False)
    _add_run_flags(blend)
    add_control_flags(blend)


def _add_run_flags(command: argparse.ArgumentParser) -> None:
    """Where the result goes and how the run shows: flags of the run, not of the spec."""
    command.add_argument(
        "--out", type=Path, help="also put the result here (the run keeps its copy)"
    )
    command.add_argument(
        "--session", default="default", help="experiment session (default: default)"
    )
    command.add_argument(
        "--json", action="store_true", help="print one JSON object with the result"
    )
    command.add_argument("--quiet", action="store_true", help="no progress bar")
    command.add_argument(
        "--plan",
        action="store_true",
        help="print the plan (frames, denoise steps, model, size, ETA) and render nothing",
    )
    add_mlflow_flags(command)


def add_mlflow_flags(command: argparse.ArgumentParser) -> None:
    """``--mlflow`` and ``--mlflow-uri``: log the run to MLflow (``studio.app.tracking``)."""
    command.add_argument(
        "--mlflow",
        action="store_true",
        default=None,
        help="also log the run to MLflow: $MLFLOW_TRACKING_URI, else $STUDIO_HOME/mlflow "
        "(needs mlflow-skinny)",
    )
    command.add_argument(
        "--mlflow-uri", metavar="URI", help="log the run to this MLflow tracking URI"
    )


def add_diffusion_flags(command: argparse.ArgumentParser) -> None:
    """The diffusion flags every render command shares, generated from ``DiffusionSettings``.

    The scheduler's choices are left to the spec's check, which names those the render kind
    can use (a blend allows fewer).
    """
    add_group_flags(command, DiffusionSettings, open_choices=("scheduler",))
    add_loading_flags(command)


# -- animate -----------------------------------------------------------------------------


def spec_from_args(args: argparse.Namespace) -> AnimationSpec:
    """The spec the flags describe: ``--spec`` (or defaults) with each given flag applied."""

    fmt = format_from_args(args)  # a bad --out fails before any file is read
    spec = load_spec(read_text(args.spec, "spec")) if args.spec is not None else AnimationSpec()
    if not isinstance(spec, AnimationSpec):
        raise SpecError(f"--spec {args.spec} is a {spec.kind} spec; render it with `blend`")
    p = apply_flags(spec.prompts, args)
    if args.prompts_file is not None:
        p = p.replace(schedule=read_text(args.prompts_file, "schedule"))
    elif args.prompts is None and args.spec is None:
        raise SpecError("give a schedule with --prompts TEXT, --prompts-file FILE or --spec FILE")
    d = diffusion_from_args(spec.diffusion, args)
    frequencies = None
    if args.sine_frequencies is not None:
        try:
            frequencies = tuple(float(f) for f in args.sine_frequencies.split(","))
        except ValueError:
            raise SpecError(
                f"--sine-frequencies must be numbers like 1,3, got {args.sine_frequencies!r}"
            ) from None
    a = _replace(apply_flags(spec.animation, args), sine_frequencies=frequencies)
    o = _replace(apply_flags(spec.output, args), format=fmt)
    # The soundtrack is stored absolute; the render kind's check_inputs decodes it, so bad
    # media stop there, before a run is recorded.
    spec = spec.replace(
        prompts=p, diffusion=d, animation=a, output=o, audio=apply_flags(spec.audio, args)
    )
    spec = _media_from_args(spec, args)
    spec = spec.replace(edit=apply_flags(spec.edit, args))
    spec = spec.replace(loras=animation_loras(args.lora, spec.loras))
    spec = spec.replace(control=control_from_args(spec.control, args))
    spec = spec.replace(upscale=apply_flags(spec.upscale, args))
    spec.check()
    return spec


def _media_from_args(spec: AnimationSpec, args: argparse.Namespace) -> AnimationSpec:
    """The input and motion groups with their flags applied.

    With ``--video-input``, ``--fps`` and ``--width``/``--height`` not given come from the
    video (its rate rounded to whole fps, its size to multiples of 8); each such change is
    said on stderr and, with ``--json``, under ``"input"`` (``args.media_payload``).
    """
    from studio.media.inputs import video_info
    from studio.pipeline.defaults import with_explicit

    a, d = spec.animation, spec.diffusion
    i = apply_flags(spec.input, args)
    # The two inputs exclude each other: the one given replaces the other.
    if args.video_input is not None:
        i = i.replace(image="")
    elif args.image_input is not None:
        i = i.replace(video="")
    m = apply_flags(spec.motion, args)
    if args.depth_model and Path(args.depth_model).expanduser().exists():
        # A local depth model folder is stored absolute (a Hub id stays as it is), so a
        # stored spec finds it when re-run from another folder.
        m = m.replace(depth_model=str(Path(args.depth_model).expanduser().resolve()))
    if args.video_input is not None:
        info = video_info(i.video)
        notes = []
        if args.fps is None:
            fps = min(120, max(1, round(info.fps)))
            a = a.replace(fps=fps)
            if fps != info.fps:
                notes.append(
                    f"the video input runs at {info.fps:g} fps; rendering at {fps} fps "
                    "(give --fps to choose)"
                )
        if args.width is None or args.height is None:
            width, height = info.rounded_size
            d = with_explicit(d, {"width": args.width or width, "height": args.height or height})
            if info.rounded:
                notes.append(
                    f"the video input is {info.width}x{info.height}; the model needs multiples "
                    f"of 8, so it is rendered at {d.width}x{d.height} "
                    "(give --width/--height to choose)"
                )
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        args.media_payload = {"input": {**info.to_dict(), "notes": notes}}
    return spec.replace(input=i, motion=m, animation=a, diffusion=d)


# -- blend -------------------------------------------------------------------------------


def blend_spec_from_args(args: argparse.Namespace) -> BlendSpec:
    """The blend spec the flags describe: ``--spec`` (or defaults) with each given flag applied.

    The tree setup follows the flags given: ``--branches`` (with ``--injection-strengths`` or
    ``--injection-steps``) is manual, ``--diffusion-frames`` automatic, ``--preset`` a preset;
    at most one of the three.
    """

    fmt = format_from_args(args)  # a bad --out fails before any file is read
    if args.spec is not None:
        spec = load_spec(read_text(args.spec, "spec"))
        if not isinstance(spec, BlendSpec):
            raise SpecError(f"--spec {args.spec} is a {spec.kind} spec, not a blend spec")
    else:
        spec = BlendSpec()
    p, d, b, o = spec.prompts, spec.diffusion, spec.blend, spec.output
    keyframes = list(p.keyframes)
    if args.prompts:
        if len(args.prompts) < 2:
            raise SpecError(f"give two or more prompts to blend, got {len(args.prompts)}")
        keyframes = [BlendKeyframe(prompt) for prompt in args.prompts]
    elif args.spec is None:
        raise SpecError('give two or more prompts: blend "PROMPT A" "PROMPT B" [...]')
    if args.seeds is not None:
        seeds = _int_list(args.seeds, "--seeds")
        if len(seeds) != len(keyframes):
            raise SpecError(
                f"--seeds needs one seed per prompt ({len(keyframes)}), got {len(seeds)}"
            )
        keyframes = [k.replace(seed=seed) for k, seed in zip(keyframes, seeds, strict=True)]
    p = apply_flags(p, args).replace(keyframes=tuple(keyframes))
    d = diffusion_from_args(d, args)
    setups = [
        flag
        for flag, given in (
            ("--preset", args.preset),
            ("--diffusion-frames", args.diffusion_frames),
            ("--branches", args.branches),
        )
        if given is not None
    ]
    if len(setups) > 1:
        raise SpecError(
            f"give one tree setup: --preset, --diffusion-frames (automatic) or --branches "
            f"(manual), got {' and '.join(setups)}"
        )
    manual_only = [
        flag
        for flag, given in (
            ("--injection-strengths", args.injection_strengths),
            ("--injection-steps", args.injection_steps),
        )
        if given is not None
    ]
    if manual_only and args.branches is None:
        raise SpecError(f"{manual_only[0]} belongs to a manual tree; give --branches too")
    setup = None
    if args.preset is not None:
        setup = "preset"
    elif args.diffusion_frames is not None:
        setup = "auto"
    elif args.branches is not None:
        setup = "manual"
        b = b.replace(
            branches=_int_list(args.branches, "--branches"),
            injection_strengths=_float_list(args.injection_strengths, "--injection-strengths"),
            injection_steps=_int_list(args.injection_steps, "--injection-steps"),
        )
    b = _replace(apply_flags(b, args, skip=_TREE_LISTS), setup=setup)
    u = apply_flags(spec.upscale, args)
    o = _replace(apply_flags(o, args), format=fmt)
    times = _float_list(args.times, "--times") if args.times is not None else None
    a = _replace(apply_flags(spec.audio, args, skip=("times",)), times=times)
    spec = spec.replace(prompts=p, diffusion=d, blend=b, upscale=u, output=o, audio=a)
    spec = spec.replace(loras=blend_loras(args.lora, spec.loras))
    spec = spec.replace(control=control_from_args(spec.control, args))
    spec.check()
    return spec


def _int_list(text: str | None, flag: str) -> tuple[int, ...]:
    if text is None:
        return ()
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise SpecError(f"{flag} must be whole numbers like 2,3, got {text!r}") from None


def _float_list(text: str | None, flag: str) -> tuple[float, ...]:
    if text is None:
        return ()
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise SpecError(f"{flag} must be numbers like 0.4,0.7, got {text!r}") from None


def diffusion_from_args(d: DiffusionSettings, args: argparse.Namespace) -> DiffusionSettings:
    """The diffusion settings with the flags every render command shares applied.

    The settings the model brings (``model_defaults``: size, guidance, guidance stop, steps)
    fill those neither a flag nor ``--spec`` sets (``studio.pipeline.defaults``, as the
    Python API does); a new ``--model`` on top of ``--spec`` also replaces the spec's size
    and guidance, which were the old model's, but not its step count: the steps of a saved
    spec are a choice of quality and time, not of the model. The filled values stay marked
    as the model's, so the run records them as such.
    """
    from studio.pipeline.builtin import model_defaults
    from studio.pipeline.defaults import fill_model_defaults, with_explicit

    given = given_values(args, DiffusionSettings)
    given.update(extra_diffusion_values(d, args))
    d = with_explicit(d, given)
    replace: set[str] = set()
    if args.spec is not None and "model" in given:
        replace = set(model_defaults(d.model)) - set(given) - {"steps"}
    d = fill_model_defaults(d, replace=replace)[0]
    warn_custom_pipeline(d)
    return d


def _replace(group: _Group, **changes: object) -> _Group:
    """``group.replace`` with only the changes that were given (not None)."""
    given = {k: v for k, v in changes.items() if v is not None}
    return group.replace(**given) if given else group
