"""Recorded renders: the one path every render takes, from the CLI, the dashboard or the API.

``render`` runs it inline and ``submit`` as a job on the dashboard's ``JobRunner``; both go

1. check: the spec, once the model's own settings fill the diffusion fields it leaves unset
   (``studio.pipeline.defaults``: size, guidance, steps), then its kind's input files (``check_inputs``) and the
   ``out`` destination, so a bad spec is refused before anything is recorded;
2. record: a run row (status queued) and its output folder in the store (``RunRecorder``);
3. render: the kind's engine into that folder, its events to the store and to the caller;
4. deliver: the result also put at ``out`` when one was given (``studio.app.delivery``).

``resume`` and ``submit_resume`` take an interrupted run (its process was killed) back
through steps 3 and 4 from its last finished frame. Stores come from ``studio.app.store``:
one per ``STUDIO_HOME`` per process.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from db import RunRecorder, Store
from db.models import INTERRUPTED
from db.repository import slugify
from studio.app.delivery import checked_out, deliver
from studio.app.jobs import Job, JobRunner
from studio.app.registry import RenderKind, kind_for
from studio.app.store import store_for
from studio.app.tracking import MlflowLogger, MlflowTarget, mlflow_target
from studio.errors import SpecError
from studio.events import CancelToken, Fanout, OutputFile, RenderEvents, RenderResult
from studio.spec import Spec, load_spec

if TYPE_CHECKING:
    from studio.pipeline.models import ModelManager

__all__ = [
    "attach_for_resume",
    "plan_of",
    "deliver",
    "render",
    "resume",
    "resume_run",
    "submit",
    "submit_resume",
    "with_model_defaults",
    "with_scale",
]


def render(
    spec: Spec,
    *,
    session: str = "default",
    home: Path | None = None,
    manager: ModelManager | None = None,
    events: RenderEvents | None = None,
    cancel: CancelToken | None = None,
    out: Path | None = None,
    mlflow: bool | str | None = None,
    workers: int | None = None,
    ray_address: str | None = None,
) -> tuple[str, RenderResult]:
    """Render ``spec`` and record it in the store: the Python API's entry point.

    Returns ``(run_id, RenderResult)``. The run is filed under ``session`` (any text; it is
    slugified) in ``home`` (default: ``STUDIO_HOME``); ``events`` hears everything the store
    hears. Any spec kind: an ``AnimationSpec`` renders with ``render_animation``, a
    ``BlendSpec`` with ``render_blend`` (``studio.app.registry``). ``manager`` defaults to a
    new ``ModelManager`` caching under ``home/cache/models``.

    ``out`` (the CLI's ``--out``): also put the result there once it is done, a file named
    for ``spec.output.format`` (``out_format``) or a new or empty folder for PNG frames. It is
    recorded with the run (absolute), so that ``resume`` delivers there too. Raises
    ``SpecError`` for a bad spec or ``out`` before anything is recorded, and what the engine
    raises after the run is recorded as failed or cancelled.

    ``mlflow`` (off by default): also log the run to MLflow, ``True`` to
    ``$MLFLOW_TRACKING_URI`` or this home's own store, a string to that tracking URI
    (``studio.app.tracking``); a logging failure is a note on the run, never an error.

    ``workers`` / ``ray_address`` (the CLI's ``--workers`` / ``--ray-address``; None: the
    spec's ``diffusion.workers`` / ``ray_address``): render the spec's shards on that many
    Ray workers, on a local runtime or the cluster named (``studio.app.scale``); the frames
    are those of a one-process render on the same device type.
    """
    # 1. Check.
    spec = with_scale(spec, workers, ray_address)
    spec = with_model_defaults(spec)
    kind = _checked(spec)
    if out is not None:
        out = checked_out(Path(out), spec.output.format)
    store = store_for(home)
    target = mlflow_target(mlflow, store.home)
    # 2. Record.
    recorder = _record(store, spec, slugify(session), deliver_to=out)
    # 3. Render.
    result = kind.render(
        spec,
        recorder.output_dir,
        manager=manager or _new_manager(store),
        events=Fanout(_tracker(target, spec, recorder), recorder, events),
        cancel=cancel,
    )
    # 4. Deliver.
    if out is not None:
        deliver(result.outputs[0].path, out)
    return recorder.run_id, result


def submit(
    spec: Spec,
    *,
    session_slug: str,
    jobs: JobRunner,
    home: Path | None = None,
    manager: ModelManager | None = None,
    meta_for: Callable[[Spec], dict[str, Any]] | None = None,
    mlflow: bool | str | None = None,
) -> Job:
    """``render`` as a job on ``jobs`` (the worker of ``spec.diffusion.device``): the
    dashboard's way, filed under the session ``session_slug`` (a slug, used as it is).
    Returns the ``Job`` at once; ``mlflow`` as ``render``'s.

    Steps 1 and 2 happen before this returns: a bad spec raises ``StudioError`` with nothing
    recorded, and the run row exists (status queued) so History shows it at once. The job's
    ``meta`` holds ``run_id``, ``kind`` and ``resumed``, and what ``meta_for(spec)`` adds
    (called once the run is recorded); a job cancelled before it starts is recorded as
    cancelled.
    """
    spec = with_model_defaults(spec)
    kind = _checked(spec)
    store = store_for(home)
    target = mlflow_target(mlflow, store.home)
    recorder = _record(store, spec, session_slug)
    meta = None if meta_for is None else meta_for(spec)
    tracker = _tracker(target, spec, recorder)
    manager = manager or _new_manager(store)
    return _queue(jobs, kind, spec, recorder, manager, False, meta, tracker)


def resume(
    run_id: str,
    *,
    home: Path | None = None,
    manager: ModelManager | None = None,
    events: RenderEvents | None = None,
    cancel: CancelToken | None = None,
    mlflow: bool | str | None = None,
) -> tuple[str, RenderResult]:
    """Finish interrupted run ``run_id`` from its last checkpointed frame: the Python API of
    ``runs resume``. The run goes back to running, then ends like any render; its video is the
    one an uninterrupted render makes, and it is put at the run's ``out`` too when it was
    started with one. Returns ``(run_id, RenderResult)``; raises ``SpecError`` when the run
    cannot be resumed (or its ``out`` can no longer be written), and what the engine raises.
    ``mlflow`` as ``render``'s."""
    run_id, result, _ = resume_run(
        run_id, home=home, manager=manager, events=events, cancel=cancel, mlflow=mlflow
    )
    return run_id, result


def resume_run(
    run_id: str,
    *,
    home: Path | None = None,
    manager: ModelManager | None = None,
    events: RenderEvents | None = None,
    cancel: CancelToken | None = None,
    mlflow: bool | str | None = None,
) -> tuple[str, RenderResult, Path | None]:
    """``resume``, also returning where the result was delivered (None: nowhere but the run's
    own folder)."""
    store = store_for(home)
    target = mlflow_target(mlflow, store.home)
    spec, out = _resumable(store, run_id)
    if out is not None:  # checked before the run is taken over, as at its first start
        checked_out(out, spec.output.format)
    recorder = RunRecorder.attach(store, run_id, expect=INTERRUPTED)
    result = _render(
        kind_for(spec.kind),
        spec,
        recorder,
        manager or _new_manager(store),
        Fanout(_tracker(target, spec, recorder), recorder, events),
        cancel,
        resume=True,
    )
    if out is not None:
        deliver(result.outputs[0].path, out)
    return run_id, result, out


def plan_of(spec: Spec) -> tuple[Spec, dict[str, Any]]:
    """What ``render`` would do with ``spec``, checked the same way and recording nothing:
    ``(spec with the model's defaults filled, the plan's summary)``. Raises as ``render``'s
    check does."""
    spec = with_model_defaults(spec)
    kind = _checked(spec)
    return spec, kind.plan(spec).summary()


def submit_resume(
    run_id: str,
    *,
    jobs: JobRunner,
    home: Path | None = None,
    manager: ModelManager | None = None,
    meta_for: Callable[[Spec], dict[str, Any]] | None = None,
    mlflow: bool | str | None = None,
) -> Job:
    """``resume`` as a job on ``jobs``, like ``submit``: it continues from the run's last
    finished frame into its own folder and row. ``meta_for(spec)`` gives what the job's
    ``meta`` adds, from the run's stored spec. Raises ``StudioError`` naming why a run cannot
    be resumed, before the job is queued."""
    store = store_for(home)
    target = mlflow_target(mlflow, store.home)
    spec, recorder = attach_for_resume(store, run_id)
    kind = kind_for(spec.kind)
    meta = None if meta_for is None else meta_for(spec)
    tracker = _tracker(target, spec, recorder)
    return _queue(jobs, kind, spec, recorder, manager or _new_manager(store), True, meta, tracker)


def attach_for_resume(store: Store, run_id: str) -> tuple[Spec, RunRecorder]:
    """Check that run ``run_id`` can be resumed and take it over: ``(spec, RunRecorder)``.

    Only an ``interrupted`` run can (its process was killed; a queued or running one whose
    process is gone is marked so first). Raises ``SpecError`` naming the run and its status,
    or the problem with its stored spec. Delivering to ``recorder.deliver_to`` (the ``--out``
    the run was started with) is the caller's part; ``resume`` does it.
    """
    spec, _ = _resumable(store, run_id)
    return spec, RunRecorder.attach(store, run_id, expect=INTERRUPTED)


def with_scale(spec: Spec, workers: int | None, ray_address: str | None) -> Spec:
    """``spec`` with the workers and cluster address given (None: as the spec has them)."""
    change = {"workers": workers, "ray_address": ray_address}
    given = {k: v for k, v in change.items() if v is not None}
    return spec.replace(diffusion=spec.diffusion.replace(**given)) if given else spec


def with_model_defaults(spec: Spec) -> Spec:
    """``spec`` with its model's size, guidance, guidance stop and steps in the diffusion
    fields it leaves unset (``AnimationSpec(diffusion={"model": FOLDER})`` renders at the
    folder's native size); values it sets stay. The run's ``started`` event records the
    values that came from the model (``model_defaults``)."""
    from studio.pipeline.defaults import fill_model_defaults

    d, from_model = fill_model_defaults(spec.diffusion)
    return spec.replace(diffusion=d) if from_model else spec


# -- the steps -------------------------------------------------------------------------------


def _checked(spec: Spec) -> RenderKind:
    """Step 1: the spec's kind, once the spec, its input files and its plan are good."""
    from studio.pipeline.schedulers import check_scheduler_options

    kind = kind_for(spec.kind)
    spec.check()
    # Unknown or mistyped options fail here, not after the model has loaded.
    check_scheduler_options(spec.diffusion.scheduler, spec.diffusion.scheduler_kwargs)
    kind.check_inputs(spec)
    kind.plan(spec)  # pure: a tree that cannot be built is refused before a run is recorded
    return kind


def _record(
    store: Store, spec: Spec, session_slug: str, deliver_to: Path | None = None
) -> RunRecorder:
    """Step 2: the run's row (queued) and output folder."""
    return RunRecorder.create(
        store,
        session_slug=session_slug,
        kind=spec.kind,
        spec=spec.to_dict(),
        schema_version=spec.schema_version,
        model_ref=spec.diffusion.model,
        seed=spec.diffusion.seed,
        deliver_to=None if deliver_to is None else str(deliver_to),
    )


def _queue(
    jobs: JobRunner,
    kind: RenderKind,
    spec: Spec,
    recorder: RunRecorder,
    manager: ModelManager,
    resume: bool,
    meta: dict[str, Any] | None,
    tracker: MlflowLogger | None = None,
) -> Job:
    """Steps 3 and 4 as a job on the worker of the spec's device."""

    def work(job: Job) -> RenderResult:
        events = Fanout(tracker, recorder, job)
        result = _render(kind, spec, recorder, manager, events, job.token, resume)
        if recorder.deliver_to:  # a CLI run started with --out, resumed here
            deliver(result.outputs[0].path, Path(recorder.deliver_to))
        return result

    return jobs.submit(
        work,
        device=spec.diffusion.device,
        label=f"{spec.kind} {recorder.run_id}" + (" (resumed)" if resume else ""),
        meta={"run_id": recorder.run_id, "kind": spec.kind, "resumed": resume, **(meta or {})},
        on_skip=recorder.cancelled,
    )


def _render(
    kind: RenderKind,
    spec: Spec,
    recorder: RunRecorder,
    manager: ModelManager,
    events: RenderEvents,
    cancel: CancelToken | None,
    resume: bool,
) -> RenderResult:
    """Step 3: the kind's engine into the run's folder. A resumed run whose earlier attempt
    finished and recorded its file (killed before it was marked finished) is finished from
    that file, not rendered again."""
    made = recorder.complete_output() if resume else None
    if made is None:
        return kind.render(
            spec,
            recorder.output_dir,
            manager=manager,
            events=events,
            cancel=cancel,
            resume=resume,
        )
    denoise_steps = made.pop("denoise_steps")
    output = OutputFile(**made)
    result = RenderResult(
        outputs=[output],
        frames=output.frames,
        fps=output.fps,
        denoise_steps=denoise_steps,
        seconds=0.0,
        notes=["the earlier attempt had finished its file; it was kept, not rendered again"],
        resume={
            "reused_output": True,
            "from_frame": output.frames,
            "denoise_steps_this_attempt": 0,
        },
    )
    events.output(output)
    events.finished(result)
    return result


def _resumable(store: Store, run_id: str) -> tuple[Spec, Path | None]:
    """The checks of ``attach_for_resume``, taking nothing over: the run's spec and the
    destination it was started with (None for none)."""
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
    _checked(spec)
    return spec, None if deliver_to is None else Path(deliver_to)


def _tracker(target: MlflowTarget | None, spec: Spec, recorder: RunRecorder) -> MlflowLogger | None:
    """The MLflow sink of a run that asked for one (it goes before the recorder)."""
    if target is None:
        return None
    return MlflowLogger(
        target, spec=spec.to_dict(), run_id=recorder.run_id, session=recorder.session_slug
    )


def _new_manager(store: Store) -> ModelManager:
    """A model manager caching under the store's home (the engines load weights through it)."""
    from studio.pipeline.models import ModelManager

    return ModelManager(cache_dir=store.home / "cache" / "models")
