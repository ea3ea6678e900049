"""The command line: ``python -m studio ...``. A composition root: it wires engine and store.

Every user error ends as one line on stderr and a non-zero exit (2 for bad input, 130 when
cancelled with Ctrl-C); ``--json`` puts exactly one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from studio.errors import RenderCancelled, SpecError, StudioError
from studio.spec import AnimationSpec, load_spec

__all__ = ["main", "render"]

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3
EXIT_CANCELLED = 130


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
    animate.add_argument("--guidance", type=float)
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

    commands.add_parser("models", help="list the built-in models")
    return parser


def main(argv: list[str] | None = None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        args = build_parser().parse_args(argv)
        if args.command == "animate":
            return _animate(args)
        if args.command == "runs":
            return _runs(args)
        if args.command == "models":
            return _models()
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
    from studio.builtin import recommended_size

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
    d = _replace(
        d,
        model=args.model,
        scheduler=args.scheduler,
        steps=args.steps,
        guidance=args.guidance,
        seed=args.seed,
        device=args.device,
        dtype=args.dtype,
    )
    if args.spec is None or args.model is not None:
        size = recommended_size(d.model)
        d = _replace(d, width=args.width or size, height=args.height or size)
    else:
        d = _replace(d, width=args.width, height=args.height)
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
    fmt = args.format
    if args.out is not None:
        from_suffix = {".mp4": "mp4", ".gif": "gif"}.get(args.out.suffix.lower(), "png")
        if fmt is None:
            fmt = from_suffix
        elif fmt != from_suffix:
            raise SpecError(
                f"--format {fmt} does not match --out {args.out} (looks like {from_suffix})"
            )
    o = _replace(o, format=fmt)
    spec = spec.replace(prompts=p, diffusion=d, animation=a, output=o)
    spec.check()
    return spec


def render(
    spec: AnimationSpec,
    *,
    session: str = "default",
    home: Path | None = None,
    manager=None,
    events=None,
    cancel=None,
):
    """Render ``spec`` and record it in the store: the Python API's entry point.

    Returns ``(run_id, RenderResult)``. The run is filed under ``session`` (any text; it is
    slugified) in ``home`` (default: ``STUDIO_HOME``); ``events`` hears everything the store
    hears. Raises what ``render_animation`` raises, after the run is recorded as failed or
    cancelled.
    """
    from db import RunRecorder, Store
    from db.repository import slugify
    from studio.animate import render_animation
    from studio.events import Fanout
    from studio.models import ModelManager

    spec.check()
    store = Store.open(home)
    recorder = RunRecorder.create(
        store,
        session_slug=slugify(session),
        kind=spec.kind,
        spec=spec.to_dict(),
        schema_version=spec.schema_version,
        model_ref=spec.diffusion.model,
        seed=spec.diffusion.seed,
    )
    manager = manager or ModelManager(cache_dir=store.home / "cache" / "models")
    result = render_animation(
        spec, recorder.output_dir, manager=manager, events=Fanout(recorder, events), cancel=cancel
    )
    return recorder.run_id, result


def _animate(args: argparse.Namespace) -> int:
    from db.repository import slugify

    spec = spec_from_args(args)
    if args.out is not None:
        _check_out(args.out, spec.output.format)
    bar = _ProgressBar(enabled=not args.quiet)
    try:
        run_id, result = render(spec, session=args.session, events=bar)
    finally:
        bar.close()
    stored = [str(o.path) for o in result.outputs]
    outputs = stored
    if args.out is not None:
        outputs = [str(_deliver(result.outputs[0].path, args.out))]
    payload: dict[str, Any] = {"run_id": run_id, **result.to_dict(), "outputs": outputs}
    payload["stored_outputs"] = stored
    payload["session"] = slugify(args.session)
    if args.json:
        print(json.dumps(payload))
    else:
        print(
            f"run {run_id}: {result.frames} frames at {result.fps:g} fps, "
            f"{result.denoise_steps} denoise steps, {result.seconds:.1f} s -> {outputs[0]}"
        )
    return 0


def _check_out(out: Path, fmt: str) -> None:
    if fmt == "png":
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise SpecError(f"--out {out} must be a new or empty folder for PNG frames")
    elif out.is_dir():
        raise SpecError(f"--out {out} is a folder; give a file name ending in .{fmt}")
    if not out.parent.exists():
        raise SpecError(f"--out {out}: folder {out.parent} does not exist")


def _deliver(source: Path, out: Path) -> Path:
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


def _models() -> int:
    from studio.builtin import BUILTIN_MODELS

    for name, model in BUILTIN_MODELS.items():
        print(f"builtin:{name}  {model.native_size}px  {model.description}")
    return 0


# -- helpers -----------------------------------------------------------------------------


def _replace(group, **changes):
    """``dataclasses.replace`` with only the changes that were given (not None)."""
    import dataclasses

    given = {k: v for k, v in changes.items() if v is not None}
    return dataclasses.replace(group, **given) if given else group


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{what} file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read {what} file {path}: {exc}") from None
