"""The command line: ``python -m studio ...``. A composition root: it wires engine and store.

Every user error ends as one line on stderr and a non-zero exit (2 for bad input, 130 when
cancelled with Ctrl-C); ``--json`` puts exactly one JSON object on stdout. A closed stdout
(``... | head -1``) ends a command silently with 141, like a program killed by SIGPIPE.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import sys
from pathlib import Path
from typing import Any

from studio.errors import RenderCancelled, SpecError, StudioError
from studio.spec import AnimationSpec, BlendKeyframe, BlendSpec, Spec, load_spec

__all__ = [
    "attach_for_resume",
    "blend_spec_from_args",
    "deliver",
    "engine_for",
    "main",
    "out_format",
    "render",
    "resume",
    "spec_from_args",
]

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3
EXIT_CANCELLED = 130
# 128 + SIGPIPE: what a shell reports for a writer whose reader went away.
EXIT_BROKEN_PIPE = 141


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags as a StudioError (one line, exit 2) like any bad input."""

    def error(self, message: str):  # type: ignore[override]
        raise SpecError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m studio", description="Latent Studio command line")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

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

    _add_blend_parser(commands)

    runs = commands.add_parser("runs", help="read the history of runs")
    runs_commands = runs.add_subparsers(dest="runs_command", required=True, parser_class=_Parser)
    runs_list = runs_commands.add_parser("list", help="runs, newest first")
    runs_list.add_argument("--session")
    runs_list.add_argument("--status")
    runs_list.add_argument("--limit", type=int, default=50)
    runs_list.add_argument("--json", action="store_true")
    runs_show = runs_commands.add_parser("show", help="one run with its spec and outputs")
    runs_show.add_argument("run_id")
    runs_show.add_argument("--json", action="store_true")
    runs_resume = runs_commands.add_parser(
        "resume", help="finish an interrupted run from its last finished frame"
    )
    runs_resume.add_argument("run_id")
    runs_resume.add_argument(
        "--json", action="store_true", help="print one JSON object with the result"
    )
    runs_resume.add_argument("--quiet", action="store_true", help="no progress bar")

    _add_sessions_parser(commands)

    commands.add_parser("models", help="list the built-in models")
    _add_audio_keyframes_parser(commands)
    return parser


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


def _add_audio_keyframes_parser(commands) -> None:
    keyframes = commands.add_parser(
        "audio-keyframes", help="key frames at the onsets (beats, notes) of an audio file"
    )
    keyframes.add_argument("file", type=Path, metavar="FILE", help="wav, mp3, ogg or flac")
    keyframes.add_argument("--fps", type=float, default=12.0, help="frames per second (12)")
    keyframes.add_argument(
        "--component",
        choices=["percussive", "harmonic", "both"],
        default="both",
        help="percussive (drums), harmonic (notes) or both: the whole track (default)",
    )
    keyframes.add_argument(
        "--json", action="store_true", help='print {"keyframes": [...], "timestamps": [...]}'
    )


def _add_blend_parser(commands) -> None:
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


def _add_sessions_parser(commands) -> None:
    sessions = commands.add_parser(
        "sessions", help="experiment sessions, and their sync with Hugging Face Hub dataset repos"
    )
    sessions_commands = sessions.add_subparsers(
        dest="sessions_command", required=True, parser_class=_Parser
    )
    sessions_list = sessions_commands.add_parser("list", help="sessions with their runs and sizes")
    sessions_list.add_argument("--json", action="store_true")
    sessions_show = sessions_commands.add_parser("show", help="one session, its runs and inputs")
    sessions_show.add_argument("name", help="the session's slug")
    sessions_show.add_argument("--json", action="store_true")
    push = sessions_commands.add_parser(
        "push", help="push a session to a Hub dataset repo (one commit, only what changed)"
    )
    push.add_argument("name", help="the session's slug")
    push.add_argument("--repo", required=True, help="the dataset repo, ORG/NAME")
    push.add_argument("--public", action="store_true", help="create the repo public, not private")
    push.add_argument(
        "--replace", action="store_true", help="overwrite a different session of the same name"
    )
    push.add_argument("--json", action="store_true")
    pull = sessions_commands.add_parser(
        "pull", help="pull a session from a Hub dataset repo; everything is checked first"
    )
    pull.add_argument("--repo", required=True, help="the dataset repo, ORG/NAME")
    pull.add_argument("--session", required=True, help="the session's slug in the repo")
    pull.add_argument("--as", dest="as_slug", metavar="NEW", help="import it under this slug")
    pull.add_argument(
        "--settings-only", action="store_true", help="runs and specs only, no output files"
    )
    pull.add_argument(
        "--rename-if-exists",
        action="store_true",
        help="if the name is taken here, import as NAME-2 (default: refuse)",
    )
    pull.add_argument("--json", action="store_true")
    remote = sessions_commands.add_parser(
        "remote", help="list the sessions a Hub dataset repo holds, with sizes"
    )
    remote.add_argument("--repo", required=True, help="the dataset repo, ORG/NAME")
    remote.add_argument("--json", action="store_true")


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (see the module docstring).

    A reader of stdout that goes away (``... | head -1``) ends the command quietly with
    ``EXIT_BROKEN_PIPE``, as the shell reports a writer killed by SIGPIPE.
    """
    try:
        status = _run_command(argv)
        # Output still in the buffer would meet a departed reader at interpreter exit, where
        # Python can only print a traceback; flushing here brings that case into reach.
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        if not _stdout_reader_gone():
            raise
        # Python flushes stdout again at exit; pointed at devnull, that flush is silent.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe whose reading end was closed.

    A ``BrokenPipeError`` may also come from another pipe (ffmpeg's stdin, say); only this one
    is the user's ``| head``, so only this one ends the command quietly. ``poll`` reports
    POLLERR on the writing end of a pipe that has no reader.
    """
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no real stdout
        return False


def _run_command(argv: list[str] | None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        args = build_parser().parse_args(argv)
        if args.command == "animate":
            return _animate(args)
        if args.command == "blend":
            return _blend(args)
        if args.command == "runs":
            return _runs(args)
        if args.command == "sessions":
            return _sessions(args)
        if args.command == "models":
            return _models()
        if args.command == "audio-keyframes":
            return _audio_keyframes(args)
        raise SpecError(f"unknown command {args.command!r}")
    except RenderCancelled as exc:
        print(f"cancelled: {exc}", file=sys.stderr)
        return EXIT_CANCELLED
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:
        if isinstance(exc, BrokenPipeError) and _stdout_reader_gone():
            raise  # main ends the command quietly
        if _is_store_error(exc):
            print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
            return EXIT_USER_ERROR
        if debug:
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc} (run again with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


# -- animate -----------------------------------------------------------------------------


def spec_from_args(args: argparse.Namespace) -> AnimationSpec:
    """The spec the flags describe: ``--spec`` (or defaults) with each given flag applied."""

    fmt = _format_from_args(args)  # a bad --out fails before any file is read
    spec = load_spec(_read_text(args.spec, "spec")) if args.spec is not None else AnimationSpec()
    p, d, a, o = spec.prompts, spec.diffusion, spec.animation, spec.output
    if args.prompts is not None:
        p = _replace(p, schedule=args.prompts)
    elif args.prompts_file is not None:
        p = _replace(p, schedule=_read_text(args.prompts_file, "schedule"))
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
    that a re-run from another folder finds it (``check_media`` then decodes it: bad media
    stop there, before a run is recorded)."""
    return _replace(
        audio,
        path=None if args.audio is None else str(args.audio.expanduser().resolve()),
        component=args.audio_component,
        timing=args.audio_timing,
        smoothing=args.audio_smoothing,
        mux=args.audio_mux,
    )


# Spec kind -> (engine module, render function); each takes (spec, out_dir, manager=, events=,
# cancel=) and returns a RenderResult.
_ENGINES = {
    "animation": ("studio.animation.render", "render_animation"),
    "blend": ("studio.blend.render", "render_blend"),
}


def render(
    spec: Spec,
    *,
    session: str = "default",
    home: Path | None = None,
    manager=None,
    events=None,
    cancel=None,
    out: Path | None = None,
):
    """Render ``spec`` and record it in the store: the Python API's entry point.

    Returns ``(run_id, RenderResult)``. The run is filed under ``session`` (any text; it is
    slugified) in ``home`` (default: ``STUDIO_HOME``); ``events`` hears everything the store
    hears. Any spec kind: an ``AnimationSpec`` renders with ``render_animation``, a
    ``BlendSpec`` with ``render_blend``.

    ``out`` (the CLI's ``--out``): also put the result there once it is done, a file named
    for ``spec.output.format`` (``out_format``) or a new or empty folder for PNG frames. It is
    recorded with the run (absolute), so that ``resume`` delivers there too. Raises
    ``SpecError`` for a bad spec or ``out`` before anything is recorded, and what the engine
    raises after the run is recorded as failed or cancelled.
    """
    from db import RunRecorder, Store
    from db.repository import slugify
    from studio.events import Fanout
    from studio.pipeline.models import ModelManager

    engine = engine_for(spec.kind)
    spec.check()
    check_media(spec)
    if out is not None:
        out = _checked_out(Path(out), spec.output.format)
    store = Store.open(home)
    recorder = RunRecorder.create(
        store,
        session_slug=slugify(session),
        kind=spec.kind,
        spec=spec.to_dict(),
        schema_version=spec.schema_version,
        model_ref=spec.diffusion.model,
        seed=spec.diffusion.seed,
        deliver_to=None if out is None else str(out),
    )
    manager = manager or ModelManager(cache_dir=store.home / "cache" / "models")
    result = engine(
        spec, recorder.output_dir, manager=manager, events=Fanout(recorder, events), cancel=cancel
    )
    if out is not None:
        deliver(result.outputs[0].path, out)
    return recorder.run_id, result


def engine_for(kind: str):
    """The render function of spec kind ``kind`` (``render_animation``, ``render_blend``).

    Raises ``SpecError`` for a kind no engine renders."""
    import importlib

    if kind not in _ENGINES:
        raise SpecError(f"no engine renders spec kind {kind!r}")
    module, function = _ENGINES[kind]
    return getattr(importlib.import_module(module), function)


def check_media(spec: Spec) -> None:
    """Probe the files ``spec`` names before a run is recorded (``MediaError``, ``SpecError``).

    ``spec.check()`` opens no file; this is the I/O half of the check (input image or video,
    audio track, inpaint mask and image), until each render kind has its own input check.
    """
    if isinstance(spec, AnimationSpec):
        from studio.audio.analysis import check_audio
        from studio.media.inputs import check_inputs

        check_inputs(spec)  # probed once per version of the file
        if spec.audio.path:
            check_audio(spec.audio.path)  # decoded once per version of the file
    elif isinstance(spec, BlendSpec):
        for what, name in (("mask", spec.blend.inpaint_mask), ("image", spec.blend.inpaint_image)):
            if name and not Path(name).is_file():
                raise SpecError(f"inpaint {what} file {name} does not exist")


def attach_for_resume(store, run_id: str):
    """Check that run ``run_id`` can be resumed and take it over: ``(spec, RunRecorder)``.

    Only an ``interrupted`` run can (its process was killed; a queued or running one whose
    process is gone is marked so first). Raises ``SpecError`` naming the run and its status,
    or the problem with its stored spec. Delivering to ``recorder.deliver_to`` (the ``--out``
    the run was started with) is the caller's part; ``resume`` does it.
    """
    from db import RunRecorder

    spec, _ = _resumable(store, run_id)
    return spec, RunRecorder.attach(store, run_id)


def _resumable(store, run_id: str) -> tuple[Spec, Path | None]:
    """The checks of ``attach_for_resume``, taking nothing over: the run's spec and the
    destination it was started with (None for none)."""
    from db.models import INTERRUPTED
    from db.repository import get_run

    store.mark_interrupted()
    with store.session() as s:
        try:
            run = get_run(s, run_id)
        except LookupError as exc:  # a KeyError: its str() adds quotes, its args do not
            raise SpecError(str(exc.args[0] if exc.args else exc)) from None
        status, stored, deliver_to = run.status, run.spec, run.deliver_to
    if status != INTERRUPTED:
        raise SpecError(
            f"run {run_id} is {status}; only an interrupted run (its render was killed) "
            "can be resumed; use re-run to render it again"
        )
    spec = load_spec(stored)
    spec.check()
    check_media(spec)
    return spec, None if deliver_to is None else Path(deliver_to)


def resume(run_id: str, *, home: Path | None = None, manager=None, events=None, cancel=None):
    """Finish interrupted run ``run_id`` from its last checkpointed frame: the Python API of
    ``runs resume``. The run goes back to running, then ends like any render; its video is the
    one an uninterrupted render makes, and it is put at the run's ``out`` too when it was
    started with one. Returns ``(run_id, RenderResult)``; raises ``SpecError`` when the run
    cannot be resumed (or its ``out`` can no longer be written), and what the engine raises."""
    run_id, result, _ = _resume(run_id, home=home, manager=manager, events=events, cancel=cancel)
    return run_id, result


def _resume(run_id: str, *, home=None, manager=None, events=None, cancel=None):
    """``resume``, also returning where the result was delivered (None: nowhere extra)."""
    from db import RunRecorder, Store
    from studio.events import Fanout
    from studio.pipeline.models import ModelManager

    store = Store.open(home)
    spec, out = _resumable(store, run_id)
    if out is not None:  # checked before the run is taken over, as at its first start
        _checked_out(out, spec.output.format)
    recorder = RunRecorder.attach(store, run_id)
    manager = manager or ModelManager(cache_dir=store.home / "cache" / "models")
    result = engine_for(spec.kind)(
        spec,
        recorder.output_dir,
        manager=manager,
        events=Fanout(recorder, events),
        cancel=cancel,
        resume=True,
    )
    if out is not None:
        deliver(result.outputs[0].path, out)
    return run_id, result, out


def _animate(args: argparse.Namespace) -> int:
    return _render_and_report(spec_from_args(args), args)


def _render_and_report(spec: Spec, args: argparse.Namespace) -> int:
    """Render ``spec`` as the flags ask (``--out``, ``--session``, ``--json``, ``--quiet``)."""
    from db.repository import slugify

    bar = _ProgressBar(enabled=not args.quiet)
    try:
        run_id, result = render(spec, session=args.session, events=bar, out=args.out)
    finally:
        bar.close()
    stored = [str(o.path) for o in result.outputs]
    outputs = stored if args.out is None else [str(args.out)]
    payload: dict[str, Any] = {"run_id": run_id, **result.to_dict(), "outputs": outputs}
    payload["stored_outputs"] = stored
    payload["session"] = slugify(args.session)
    payload.update(getattr(args, "media_payload", {}))
    if args.json:
        print(json.dumps(payload))
    else:
        print(
            f"run {run_id}: {result.frames} frames at {result.fps:g} fps, "
            f"{result.denoise_steps} denoise steps, {result.seconds:.1f} s -> {outputs[0]}"
        )
        for note in result.extra.get("notes", []):
            print(f"note: {note}", file=sys.stderr)
    return 0


# -- blend -------------------------------------------------------------------------------


def blend_spec_from_args(args: argparse.Namespace) -> BlendSpec:
    """The blend spec the flags describe: ``--spec`` (or defaults) with each given flag applied.

    The tree setup follows the flags given: ``--branches`` (with ``--injection-strengths`` or
    ``--injection-steps``) is manual, ``--diffusion-frames`` automatic, ``--preset`` a preset;
    at most one of the three.
    """

    fmt = _format_from_args(args)  # a bad --out fails before any file is read
    if args.spec is not None:
        spec = load_spec(_read_text(args.spec, "spec"))
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


def _blend(args: argparse.Namespace) -> int:
    return _render_and_report(blend_spec_from_args(args), args)


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


# -- shared ------------------------------------------------------------------------------


def _format_from_args(args: argparse.Namespace) -> str | None:
    """``--format``, or the one ``--out`` implies (``out_format``); they must agree when both
    are given."""
    fmt = args.format
    if args.out is not None:
        from_suffix = out_format(args.out)
        if fmt is None:
            fmt = from_suffix
        elif fmt != from_suffix:
            raise SpecError(
                f"--format {fmt} does not match --out {args.out} (looks like {from_suffix})"
            )
    return fmt


def out_format(out: Path) -> str:
    """The output format an ``--out`` path asks for: ``NAME.mp4`` or ``NAME.gif`` (any case)
    a file of that format; a path without an extension, or an existing folder, a folder of
    PNG frames.

    Raises ``SpecError`` naming the path and what is supported for any other extension (a
    ``.avi`` would otherwise become a folder of PNGs; a ``.png`` is one picture, not frames).
    """
    from studio.media.writers import FORMATS

    files = {f".{fmt}": fmt for fmt in FORMATS if fmt != "png"}
    suffix = out.suffix.lower()
    if suffix in files:
        return files[suffix]
    if not suffix or out.is_dir():
        return "png"
    raise SpecError(
        f"--out {out}: cannot write {suffix} files; give a file name ending in "
        f"{' or '.join(files)}, or a folder without an extension for PNG frames"
    )


def _checked_out(out: Path, fmt: str) -> Path:
    """``out`` made absolute, once it is a place a ``fmt`` result can be put (``SpecError``
    naming the problem if not)."""
    out = out.expanduser().absolute()
    if out_format(out) != fmt:
        raise SpecError(f"--out {out} does not fit {fmt} output (it looks like {out_format(out)})")
    _check_out(out, fmt)
    return out


def _check_out(out: Path, fmt: str) -> None:
    if fmt == "png":
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise SpecError(f"--out {out} must be a new or empty folder for PNG frames")
    elif out.is_dir():
        raise SpecError(f"--out {out} is a folder; give a file name ending in .{fmt}")
    if not out.parent.exists():
        raise SpecError(f"--out {out}: folder {out.parent} does not exist")


def deliver(source: Path, out: Path) -> Path:
    """Put the run's file at ``out``: a hard link where possible, else a copy."""
    if source.is_dir():
        out.mkdir(exist_ok=True)
        for frame in sorted(source.iterdir()):
            shutil.copy2(frame, out / frame.name)
        return out
    tmp = out.with_name(f".{out.name}.part")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copy2(source, tmp)
    os.replace(tmp, out)
    return out


class _ProgressBar:
    """Terminal progress (tqdm on stderr), as a RenderEvents sink."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar = None

    def started(self, plan: dict) -> None:
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=plan["frames"], unit="frame", file=sys.stderr, desc="render")

    def progress(self, done: int, total: int, preview=None) -> None:
        if self._bar is not None:
            self._bar.update(done - self._bar.n)

    def output(self, output) -> None:
        pass

    def finished(self, result) -> None:
        self.close()

    def failed(self, error: BaseException) -> None:
        self.close()

    def cancelled(self) -> None:
        self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


# -- runs --------------------------------------------------------------------------------


def _runs(args: argparse.Namespace) -> int:
    from db import Store
    from db.repository import get_run, list_runs, run_to_dict

    if args.runs_command == "resume":
        return _runs_resume(args)
    store = Store.open()
    with store.session() as s:
        if args.runs_command == "list":
            runs = [
                run_to_dict(r)
                for r in list_runs(
                    s, session_slug=args.session, status=args.status, limit=args.limit
                )
            ]
            if args.json:
                print(json.dumps(runs))
            else:
                for r in runs:
                    print(
                        f"{r['id']}  {r['status']:<11} {r['kind']:<9} {r['session']:<16} {r['created_at']}"
                    )
            return 0
        try:
            run = run_to_dict(get_run(s, args.run_id))
        except LookupError as exc:
            raise SpecError(str(exc).strip("'\"")) from None
        print(json.dumps(run, indent=None if args.json else 2))
    return 0


def _runs_resume(args: argparse.Namespace) -> int:
    bar = _ProgressBar(enabled=not args.quiet)
    try:
        run_id, result, out = _resume(args.run_id, events=bar)
    finally:
        bar.close()
    stored = [str(o.path) for o in result.outputs]
    outputs = stored if out is None else [str(out)]
    payload = {"run_id": run_id, **result.to_dict(), "outputs": outputs, "stored_outputs": stored}
    if args.json:
        print(json.dumps(payload))
    else:
        facts = result.extra.get("resume", {})
        print(
            f"run {run_id} resumed from frame {facts.get('from_frame', 0)}: "
            f"{result.frames} frames, {facts.get('denoise_steps_this_attempt', result.denoise_steps)} denoise "
            f"steps now ({result.denoise_steps} in all) -> {payload['outputs'][0]}"
        )
    return 0


# -- sessions ----------------------------------------------------------------------------


def _sessions(args: argparse.Namespace) -> int:
    command = args.sessions_command
    if command == "remote":
        return _sessions_remote(args)
    from db import Store

    store = Store.open()
    try:
        if command == "list":
            return _sessions_list(store, args)
        if command == "show":
            return _sessions_show(store, args)
        if command == "push":
            from db.hub import push_session

            report = push_session(
                store, args.name, args.repo, private=not args.public, replace=args.replace
            )
        else:
            from db.hub import pull_session

            try:
                report = pull_session(
                    store,
                    args.repo,
                    args.session,
                    with_outputs=not args.settings_only,
                    as_slug=args.as_slug,
                    on_conflict="rename" if args.rename_if_exists else "error",
                )
            except ValueError as exc:  # an invalid --as slug
                raise SpecError(f"--as: {exc}") from None
        print(json.dumps(report.to_dict()) if args.json else report.summary())
        return 0
    finally:
        store.close()


def _sessions_list(store, args: argparse.Namespace) -> int:
    from db.files import human_bytes
    from db.repository import list_sessions, session_stats, session_to_dict

    with store.session() as s:
        stats = session_stats(s)
        rows = [{**session_to_dict(x), **vars(stats[x.slug])} for x in list_sessions(s)]
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        synced = f"  hub: {r['hub_repo']} ({r['last_sync_at'][:16]})" if r["hub_repo"] else ""
        archived = "  [archived]" if r["archived"] else ""
        print(
            f"{r['slug']:<24} {r['runs']:>4} runs {r['outputs']:>4} outputs "
            f"{human_bytes(r['bytes']):>10}  {r['title']}{archived}{synced}"
        )
    return 0


def _sessions_show(store, args: argparse.Namespace) -> int:
    from db.repository import (
        get_session,
        input_to_dict,
        list_runs,
        run_to_dict,
        session_stats,
        session_to_dict,
    )

    with store.session() as s:
        session = get_session(s, args.name)
        data = {
            "session": {**session_to_dict(session), **vars(session_stats(s)[session.slug])},
            "runs": [run_to_dict(r) for r in list_runs(s, session_slug=session.slug)],
            "inputs": [input_to_dict(m) for m in session.inputs],
        }
    print(json.dumps(data, indent=None if args.json else 2))
    return 0


def _sessions_remote(args: argparse.Namespace) -> int:
    from db.files import human_bytes
    from db.hub import list_remote_sessions

    sessions = list_remote_sessions(args.repo)
    if args.json:
        print(json.dumps([r.to_dict() for r in sessions]))
        return 0
    for r in sessions:
        if r.problem:
            print(f"{r.slug:<24} cannot be pulled: {r.problem}")
        else:
            print(
                f"{r.slug:<24} {r.runs:>4} runs {r.files:>5} files {human_bytes(r.bytes):>10}  "
                f"{r.title}"
            )
    return 0


def _audio_keyframes(args: argparse.Namespace) -> int:
    from studio.audio.analysis import onset_keyframes
    from studio.media.audio import load_audio

    if not 0 < args.fps <= 120:
        raise SpecError(f"--fps must be between 0 (exclusive) and 120, got {args.fps:g}")
    samples, rate = load_audio(args.file)
    found = onset_keyframes(samples, rate, args.fps, args.component)
    if args.json:
        print(json.dumps(found.to_dict()))
        return 0
    print(
        f"{len(found.frames)} key frames at {args.fps:g} fps from the {args.component} "
        f"component of {args.file} ({found.duration:.2f} s, ends at frame {found.end_frame})"
    )
    for frame, seconds in zip(found.frames, found.timestamps, strict=True):
        print(f"{frame:>7}  {seconds:9.3f} s")
    return 0


def _models() -> int:
    from studio.pipeline.builtin import BUILTIN_MODELS

    for name, model in BUILTIN_MODELS.items():
        stop = f"guidance stop {model.guidance_stop:g}  " if model.guidance_stop else ""
        print(
            f"builtin:{name}  {model.native_size}px  guidance {model.guidance:g}  {stop}"
            f"{model.description}"
        )
    return 0


# -- helpers -----------------------------------------------------------------------------


def _is_store_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a ``db.errors.StoreError`` (a user error, like ``StudioError``).

    Looked up in ``sys.modules`` so that commands that never open the store do not import it:
    if ``db.errors`` was never imported, nothing could have raised one of its errors.
    """
    errors = sys.modules.get("db.errors")
    return errors is not None and isinstance(exc, errors.StoreError)


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


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{what} file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read {what} file {path}: {exc}") from None
