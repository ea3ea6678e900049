"""The commands that render: ``animate``, ``blend`` and ``runs resume``.

Each renders through ``studio.app.runs`` (check, record, render, deliver) with a progress bar
on stderr, then reports one line, or with ``--json`` one JSON object, on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from studio.app.cli.flags import blend_spec_from_args, spec_from_args
from studio.app.cli.progress import ProgressBar
from studio.spec import Spec
from studio.spec.scale import scaled_out

__all__ = ["animate", "blend", "rerun", "resume"]


def animate(args: argparse.Namespace) -> int:
    """``animate``: render the animation the flags describe."""
    return _render_and_report(spec_from_args(args), args)


def blend(args: argparse.Namespace) -> int:
    """``blend``: render the latent-blending movie the flags describe."""
    return _render_and_report(blend_spec_from_args(args), args)


def resume(args: argparse.Namespace) -> int:
    """``runs resume``: finish an interrupted run and say what this attempt did."""
    from studio.app.runs import resume_run

    _check_stored_custom_pipeline(args)
    bar = ProgressBar(enabled=not args.quiet)
    try:
        run_id, result, out = resume_run(args.run_id, events=bar, mlflow=mlflow_option(args))
    finally:
        bar.close()
    stored = [str(o.path) for o in result.outputs]
    outputs = stored if out is None else [str(out)]
    payload = {"run_id": run_id, **result.to_dict(), "outputs": outputs, "stored_outputs": stored}
    if args.json:
        print(json.dumps(payload))
    else:
        facts = result.resume or {}
        print(
            f"run {run_id} resumed from frame {facts.get('from_frame', 0)}: "
            f"{result.frames} frames, {facts.get('denoise_steps_this_attempt', result.denoise_steps)} denoise "
            f"steps now ({result.denoise_steps} in all) -> {payload['outputs'][0]}"
        )
    return 0


def rerun(args: argparse.Namespace) -> int:
    """``runs rerun``: render a stored run's spec again as a new run, and say whether its
    files came out byte-identical (the History page's Re-run, ``studio.app.history``)."""
    from db.repository import get_run, run_to_dict
    from studio.app.history import reproduction
    from studio.app.runs import render
    from studio.app.store import store_for
    from studio.errors import SpecError
    from studio.spec import load_spec

    store = store_for()
    with store.session() as s:
        try:
            original = run_to_dict(get_run(s, args.run_id))
        except LookupError as exc:
            raise SpecError(str(exc).strip("'\"")) from None
    _check_stored_custom_pipeline(args)
    spec = load_spec(original["spec"])
    bar = ProgressBar(enabled=not args.quiet)
    try:
        session = args.session or original["session"]
        run_id, _ = render(spec, session=session, events=bar, mlflow=mlflow_option(args))
    finally:
        bar.close()
    with store.session() as s:
        new = run_to_dict(get_run(s, run_id))
    same, message = reproduction(original, new)
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": run_id,
                    "rerun_of": args.run_id,
                    "reproduced": same,
                    "message": message,
                    "outputs": [o["path"] for o in new["outputs"]],
                }
            )
        )
    else:
        print(f"run {run_id} re-ran {args.run_id}: {message}")
    return 0


def mlflow_option(args: argparse.Namespace) -> bool | str | None:
    """``--mlflow-uri URI`` (that URI), ``--mlflow`` (True) or neither (None: off)."""
    if args.mlflow_uri is not None:
        return args.mlflow_uri
    return True if args.mlflow else None


def _check_stored_custom_pipeline(args: argparse.Namespace) -> None:
    """Refuse to resume or re-run a run whose spec runs a custom pipeline, unless
    ``--allow-custom-pipeline`` was given; warn on stderr when it was."""
    from db.repository import get_run
    from studio.app.cli.loading import warn_custom_pipeline
    from studio.app.store import store_for
    from studio.errors import SpecError
    from studio.spec import load_spec

    with store_for(None).session() as s:
        try:
            stored = get_run(s, args.run_id).spec
        except LookupError:
            return  # resume_run says so
    custom = stored.get("diffusion", {}).get("custom_pipeline", "")
    if not custom:
        return
    if not args.allow_custom_pipeline:
        raise SpecError(
            f"run {args.run_id} runs the custom pipeline {custom!r} (Python code); to run it, "
            "add --allow-custom-pipeline"
        )
    warn_custom_pipeline(load_spec(stored).diffusion)


def _render_and_report(spec: Spec, args: argparse.Namespace) -> int:
    """Render ``spec`` as the flags ask (``--out``, ``--session``, ``--json``, ``--quiet``,
    ``--plan``: only say what the render would do)."""
    if args.plan:
        return _print_plan(spec, args)
    from db.repository import slugify
    from studio.app.runs import render

    replaces = args.out is not None and args.out.is_file()
    bar = ProgressBar(enabled=not args.quiet)
    try:
        run_id, result = render(
            spec, session=args.session, events=bar, out=args.out, mlflow=mlflow_option(args)
        )
    finally:
        bar.close()
    if replaces:
        print(f"note: replaced the file that was at {args.out}", file=sys.stderr)
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
        for note in result.notes:
            print(f"note: {note}", file=sys.stderr)
    return 0


def _print_plan(spec: Spec, args: argparse.Namespace) -> int:
    """``--plan``: what the render would do, checked as a render is, with an ETA from this
    home's finished runs of the model (``studio.app.estimate``); no run is recorded."""
    from db.repository import list_runs, run_to_dict
    from studio.app.estimate import first_guess, plan_report, step_speed
    from studio.app.runs import plan_of
    from studio.app.store import store_for
    from studio.pipeline.frame_memory import device_memory

    spec, plan = plan_of(spec)
    d = spec.diffusion
    steps = int(plan.get("predicted_denoise_steps") or 0)
    with store_for().session() as s:
        runs = [run_to_dict(r) for r in list_runs(s, limit=500)]
    speed = step_speed(runs, d.model, d.width, d.height)
    if speed is None:
        speed = first_guess(d.model, d.width, d.height, gpu=device_memory(d.device)[0] == "cuda")
    payload = plan_report(spec, plan, speed)
    shards = None
    if scaled_out(d):  # how it splits over the workers (docs/scale-out.md)
        from studio.app.scale import shard_plan

        shards = shard_plan(spec)
        payload["scale_out"] = shards.summary()
    if args.json:
        print(json.dumps(payload))
    else:
        print(
            f"{spec.kind}: {payload['frames']} frames{_loop_text(plan.get('loop'))}, "
            f"{steps} denoise steps, {d.model} at "
            f"{d.width}x{d.height}; about {payload['eta_seconds']:.0f} s "
            f"({payload['eta_basis']}). Nothing was rendered or recorded."
        )
        if "transition_times" in payload:
            times = ", ".join(f"{t:g}" for t in payload["transition_times"])
            track = payload.get("audio")
            placed = f" ({track['source']} of the track)" if track else ""
            print(f"prompts reached at {times} s{placed}")
        if shards is not None:
            print("\n".join(shards.lines()))
    return 0


def _loop_text(loop: Any) -> str:
    """What ``--plan`` says of a looped walk: the frames its closing segment adds."""
    if isinstance(loop, dict):
        return f" (looped: the closing segment back to the first keyframe is {loop['closing_frames']} of them)"
    return " (looped: the last transition leads back to the first prompt)" if loop else ""
