"""Render flags: the ``animate`` and ``blend`` options, and the spec they describe.

``add_animate_parser`` and ``add_blend_parser`` add the two render commands to the command
tree; ``spec_from_args`` and ``blend_spec_from_args`` turn their parsed flags into a checked
spec: ``--spec`` (or the defaults) with each flag that was given applied. Every flag that is
not given is None, so that it changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from studio.app.cli.files import format_from_args, read_text
from studio.errors import SpecError
from studio.spec import AnimationSpec, BlendKeyframe, BlendSpec, load_spec

__all__ = ["add_animate_parser", "add_blend_parser", "blend_spec_from_args", "spec_from_args"]


def add_animate_parser(commands) -> None:
    """The ``animate`` command and its flags, on the ``commands`` subparsers."""
    animate = commands.add_parser("animate", help="render a keyframed prompt animation")
    source = animate.add_mutually_exclusive_group()
    source.add_argument(
        "--prompts", help="the schedule, e.g. $'0: a red circle\\n24: a blue square'"
    )
    source.add_argument("--prompts-file", type=Path, help="read the schedule from a text file")
    animate.add_argument(
        "--spec", type=Path, help="start from a saved spec (JSON); flags override it"
    )
    animate.add_argument("--negative", help="negative prompt for keyframes without their own")
    animate.add_argument(
        "--model", help="builtin:tiny, a diffusers folder, a .safetensors file or a Hub id"
    )
    animate.add_argument("--scheduler", help="ddim, euler, euler_a, dpm++, pndm, lms, heun, unipc")
    animate.add_argument("--steps", type=int)
    animate.add_argument("--guidance", type=float, help="default: the model's own")
    animate.add_argument(
        "--guidance-stop",
        type=float,
        help="share of the schedule, at its clean end, run without guidance; default: the model's own",
    )
    animate.add_argument("--width", type=int, help="default: the model's native size")
    animate.add_argument("--height", type=int, help="default: the model's native size")
    animate.add_argument("--fps", type=int)
    animate.add_argument("--seed", type=int)
    animate.add_argument("--interpolation", choices=["slerp", "lerp"], help="of text embeddings")
    animate.add_argument("--easing", choices=["linear", "sine", "curve"])
    animate.add_argument("--sine-frequencies", help="comma-separated, e.g. 1,3")
    animate.add_argument("--easing-curve", help="curve for --easing curve, e.g. '0: (s**2)'")
    animate.add_argument(
        "--latents", choices=["keyframe", "fixed"], help="a seed per keyframe, or one"
    )
    animate.add_argument("--batch-size", type=int)
    animate.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    animate.add_argument("--dtype", choices=["auto", "float32", "float16", "bfloat16"])
    animate.add_argument(
        "--format", choices=["mp4", "gif", "png"], help="default: from --out, else mp4"
    )
    animate.add_argument(
        "--out", type=Path, help="also put the result here (the run keeps its copy)"
    )
    animate.add_argument(
        "--session", default="default", help="experiment session (default: default)"
    )
    animate.add_argument(
        "--json", action="store_true", help="print one JSON object with the result"
    )
    animate.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_audio_arguments(animate)
    _add_media_arguments(animate)


def _add_audio_arguments(animate) -> None:
    animate.add_argument("--audio", type=Path, help="soundtrack: wav, mp3, ogg or flac")
    animate.add_argument(
        "--audio-component",
        choices=["percussive", "harmonic", "both"],
        help="what of the track drives timing and the curve variable audio (default: both)",
    )
    animate.add_argument(
        "--audio-timing",
        action="store_true",
        default=None,
        help="move faster between keyframes where the track is loud",
    )
    animate.add_argument(
        "--audio-smoothing", type=float, help="0 = timing from the audio alone, 1 = linear"
    )
    animate.add_argument(
        "--no-audio-mux",
        dest="audio_mux",
        action="store_false",
        default=None,
        help="do not put the track into MP4 output",
    )


def _add_media_arguments(animate) -> None:
    inputs = animate.add_mutually_exclusive_group()
    inputs.add_argument(
        "--video-input",
        type=Path,
        help="each frame starts from this video's frame (fps and size default to its own)",
    )
    inputs.add_argument("--image-input", type=Path, help="every frame starts from this image")
    animate.add_argument(
        "--keep-audio",
        action="store_true",
        default=None,
        help="put the video input's own sound into MP4 output",
    )
    animate.add_argument(
        "--strength", help="img2img strength curve, 0 keeps the init, 1 ignores it: '0: (0.6)'"
    )
    animate.add_argument("--zoom", help="zoom per frame (curve), e.g. '0: (1.02)'")
    animate.add_argument("--angle", help="degrees per frame, counter-clockwise (curve)")
    animate.add_argument("--translate-x", help="pixels per frame to the right (curve)")
    animate.add_argument("--translate-y", help="pixels per frame down (curve)")
    animate.add_argument(
        "--noise", help="noise added to each init latent (curve), e.g. '0: (0.02)'"
    )
    animate.add_argument("--border", choices=["reflect", "replicate", "zero"], help="motion border")
    animate.add_argument(
        "--coherence-scale", type=float, help="0..1: pull toward earlier frames (0 = off)"
    )
    animate.add_argument("--coherence-alpha", type=float, help="(0, 1]: how fast the pull follows")
    animate.add_argument(
        "--coherence-noise", help="curve: std of seeded noise added to each pulled frame"
    )
    animate.add_argument(
        "--color-match", choices=["none", "first", "input"], help="LAB histogram matching"
    )


def add_blend_parser(commands) -> None:
    """The ``blend`` command and its flags, on the ``commands`` subparsers."""
    blend = commands.add_parser(
        "blend", help="render latent-blending transitions through two or more prompts"
    )
    blend.add_argument("prompts", nargs="*", metavar="PROMPT", help="two or more, in order")
    blend.add_argument(
        "--spec", type=Path, help="start from a saved blend spec (JSON); flags override it"
    )
    blend.add_argument("--negative", help="negative prompt for every keyframe")
    blend.add_argument("--seeds", help="one seed per prompt, comma-separated (default: --seed + i)")
    blend.add_argument(
        "--model", help="builtin:tiny, a diffusers folder, a .safetensors file or a Hub id"
    )
    blend.add_argument("--scheduler", help="ddim, euler, euler_a, dpm++ or unipc")
    blend.add_argument("--steps", type=int)
    blend.add_argument("--guidance", type=float, help="default: the model's own")
    blend.add_argument(
        "--guidance-stop",
        type=float,
        help="share of the schedule, at its clean end, run without guidance; default: the model's own",
    )
    blend.add_argument("--width", type=int, help="default: the model's native size")
    blend.add_argument("--height", type=int, help="default: the model's native size")
    blend.add_argument("--seed", type=int)
    blend.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    blend.add_argument("--dtype", choices=["auto", "float32", "float16", "bfloat16"])
    blend.add_argument(
        "--preset", choices=["lowest", "low", "medium", "high", "ultra"], help="tree preset"
    )
    blend.add_argument("--diffusion-frames", type=int, help="automatic tree: frames per transition")
    blend.add_argument(
        "--depth-strength", type=float, help="0..1: how late the first branch leaves"
    )
    blend.add_argument("--branches", help="manual tree: new frames per level, e.g. 2,3")
    blend.add_argument("--injection-strengths", help="manual tree: per level, e.g. 0.4,0.7")
    blend.add_argument("--injection-steps", help="manual tree: per level, e.g. 8,14")
    blend.add_argument("--insertion", choices=["adaptive", "uniform"])
    blend.add_argument("--distance", choices=["ssim", "latent"])
    blend.add_argument("--budget-steps", type=int, help="per transition's in-between frames")
    blend.add_argument("--budget-seconds", type=float, help="per transition's in-between frames")
    blend.add_argument("--crossfeed-power", type=float)
    blend.add_argument("--crossfeed-range", type=float)
    blend.add_argument("--crossfeed-decay", type=float)
    blend.add_argument("--guidance-dampening", type=float)
    blend.add_argument("--embeddings", choices=["slerp", "lerp"], help="how prompts mix")
    blend.add_argument(
        "--inpaint-mask", type=Path, help="picture: white transitions, black stays fixed"
    )
    blend.add_argument(
        "--inpaint-image", type=Path, help="what stays fixed (default: the first keyframe)"
    )
    blend.add_argument(
        "--upscale-model", help="an upscaler (e.g. stabilityai/stable-diffusion-x4-upscaler)"
    )
    blend.add_argument("--upscale-steps", type=int)
    blend.add_argument("--upscale-guidance", type=float)
    blend.add_argument("--upscale-noise-level", type=int, help="0..350 (default 20)")
    blend.add_argument("--upscale-scheduler", help="ddim, euler, euler_a, dpm++ or unipc")
    blend.add_argument("--fps", type=int)
    blend.add_argument("--duration", type=float, help="seconds; 0: one frame per diffusion frame")
    blend.add_argument("--fill", choices=["crossfade", "none"])
    blend.add_argument(
        "--format", choices=["mp4", "gif", "png"], help="default: from --out, else mp4"
    )
    blend.add_argument("--out", type=Path, help="also put the result here (the run keeps its copy)")
    blend.add_argument("--session", default="default", help="experiment session (default: default)")
    blend.add_argument("--json", action="store_true", help="print one JSON object with the result")
    blend.add_argument("--quiet", action="store_true", help="no progress bar")


# -- animate -----------------------------------------------------------------------------


def spec_from_args(args: argparse.Namespace) -> AnimationSpec:
    """The spec the flags describe: ``--spec`` (or defaults) with each given flag applied."""

    fmt = format_from_args(args)  # a bad --out fails before any file is read
    spec = load_spec(read_text(args.spec, "spec")) if args.spec is not None else AnimationSpec()
    p, d, a, o = spec.prompts, spec.diffusion, spec.animation, spec.output
    if args.prompts is not None:
        p = _replace(p, schedule=args.prompts)
    elif args.prompts_file is not None:
        p = _replace(p, schedule=read_text(args.prompts_file, "schedule"))
    elif args.spec is None:
        raise SpecError("give a schedule with --prompts TEXT, --prompts-file FILE or --spec FILE")
    if args.negative is not None:
        p = _replace(p, negative_prompt=args.negative)
    d = _diffusion_from_args(d, args)
    frequencies = None
    if args.sine_frequencies is not None:
        try:
            frequencies = tuple(float(f) for f in args.sine_frequencies.split(","))
        except ValueError:
            raise SpecError(
                f"--sine-frequencies must be numbers like 1,3, got {args.sine_frequencies!r}"
            ) from None
    a = _replace(
        a,
        fps=args.fps,
        interpolation=args.interpolation,
        easing=args.easing,
        sine_frequencies=frequencies,
        easing_curve=args.easing_curve,
        latents=args.latents,
        batch_size=args.batch_size,
    )
    o = _replace(o, format=fmt)
    spec = spec.replace(prompts=p, diffusion=d, animation=a, output=o)
    spec = spec.replace(audio=_audio_from_args(spec.audio, args))
    spec = _media_from_args(spec, args)
    spec.check()
    return spec


def _media_from_args(spec: AnimationSpec, args: argparse.Namespace) -> AnimationSpec:
    """The input and motion groups with their flags applied.

    With ``--video-input``, ``--fps`` and ``--width``/``--height`` not given come from the
    video (its rate rounded to whole fps, its size to multiples of 8); each such change is
    said on stderr and, with ``--json``, under ``"input"`` (``args.media_payload``).
    """
    from studio.media.inputs import video_info

    i, a, d = spec.input, spec.animation, spec.diffusion
    # Absolute, so that the stored spec still finds the files when re-run from elsewhere.
    if args.video_input is not None:
        i = i.replace(video=str(args.video_input.expanduser().resolve()), image="")
    elif args.image_input is not None:
        i = i.replace(image=str(args.image_input.expanduser().resolve()), video="")
    i = _replace(i, keep_audio=args.keep_audio)
    m = _replace(
        spec.motion,
        strength=args.strength,
        zoom=args.zoom,
        angle=args.angle,
        translate_x=args.translate_x,
        translate_y=args.translate_y,
        noise=args.noise,
        border=args.border,
        coherence_scale=args.coherence_scale,
        coherence_alpha=args.coherence_alpha,
        coherence_noise=args.coherence_noise,
        color_match=args.color_match,
    )
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
            d = d.replace(width=args.width or width, height=args.height or height)
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


def _audio_from_args(audio, args: argparse.Namespace):
    """The audio group with the ``--audio*`` flags applied; the file is stored absolute so
    that a re-run from another folder finds it (the render kind's ``check_inputs`` then
    decodes it: bad media stop there, before a run is recorded)."""
    return _replace(
        audio,
        path=None if args.audio is None else str(args.audio.expanduser().resolve()),
        component=args.audio_component,
        timing=args.audio_timing,
        smoothing=args.audio_smoothing,
        mux=args.audio_mux,
    )


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
    p = _replace(p, keyframes=tuple(keyframes), negative_prompt=args.negative)
    d = _diffusion_from_args(d, args)
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
    b = _replace(
        b,
        setup=setup,
        preset=args.preset,
        diffusion_frames=args.diffusion_frames,
        depth_strength=args.depth_strength,
        insertion=args.insertion,
        distance=args.distance,
        budget_steps=args.budget_steps,
        budget_seconds=args.budget_seconds,
        crossfeed_power=args.crossfeed_power,
        crossfeed_range=args.crossfeed_range,
        crossfeed_decay=args.crossfeed_decay,
        guidance_dampening=args.guidance_dampening,
        embeddings=args.embeddings,
        # Absolute, so that the stored spec still finds them when re-run from elsewhere.
        inpaint_mask=None if args.inpaint_mask is None else str(args.inpaint_mask.resolve()),
        inpaint_image=None if args.inpaint_image is None else str(args.inpaint_image.resolve()),
    )
    u = _replace(
        spec.upscale,
        model=args.upscale_model,
        steps=args.upscale_steps,
        guidance=args.upscale_guidance,
        noise_level=args.upscale_noise_level,
        scheduler=args.upscale_scheduler,
    )
    o = _replace(o, fps=args.fps, duration=args.duration, fill=args.fill, format=fmt)
    spec = spec.replace(prompts=p, diffusion=d, blend=b, upscale=u, output=o)
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


def _diffusion_from_args(d, args: argparse.Namespace):
    """The diffusion settings with the flags every render command shares applied.

    Without ``--spec`` (or with a new ``--model``) the size, guidance and guidance stop
    default to the model's own.
    """
    from studio.pipeline.builtin import (
        recommended_guidance,
        recommended_guidance_stop,
        recommended_size,
    )

    d = _replace(
        d,
        model=args.model,
        scheduler=args.scheduler,
        steps=args.steps,
        guidance=args.guidance,
        guidance_stop=args.guidance_stop,
        seed=args.seed,
        device=args.device,
        dtype=args.dtype,
    )
    if args.spec is None or args.model is not None:
        size = recommended_size(d.model)
        guidance = recommended_guidance(d.model) if args.guidance is None else args.guidance
        stop = args.guidance_stop
        return _replace(
            d,
            width=args.width or size,
            height=args.height or size,
            guidance=guidance,
            guidance_stop=recommended_guidance_stop(d.model) if stop is None else stop,
        )
    return _replace(d, width=args.width, height=args.height)


def _replace(group, **changes):
    """``group.replace`` with only the changes that were given (not None)."""
    given = {k: v for k, v in changes.items() if v is not None}
    return group.replace(**given) if given else group
