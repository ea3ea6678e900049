"""Start renders from the dashboard: record the run, then run the engine as a background job."""

from __future__ import annotations

from db import RunRecorder
from studio.events import Fanout
from studio.spec import AnimationSpec, BlendSpec, Spec
from ui.resources import get_jobs, get_manager, get_store

__all__ = ["submit_animation", "submit_blend", "submit_resume", "submit_spec"]


def submit_animation(spec: AnimationSpec, session_slug: str):
    """Queue ``spec`` on its device's worker; returns the ``studio.jobs.Job``.

    The run row exists (status queued) before this returns, so History shows it at once.
    """
    return submit_spec(spec, session_slug)


def submit_blend(spec: BlendSpec, session_slug: str):
    """Queue a latent-blending movie, like ``submit_animation``."""
    return submit_spec(spec, session_slug)


def submit_spec(spec: Spec, session_slug: str):
    """Queue a render of any kind of spec (History's re-run); raises ``StudioError`` for a bad
    spec before anything is recorded."""
    spec.check()
    recorder = RunRecorder.create(
        get_store(),
        session_slug=session_slug,
        kind=spec.kind,
        spec=spec.to_dict(),
        schema_version=spec.schema_version,
        model_ref=spec.diffusion.model,
        seed=spec.diffusion.seed,
    )
    return _submit(spec, recorder, resume=False)


def submit_resume(run_id: str):
    """Queue the rest of interrupted run ``run_id``: it continues from its last finished frame
    into its own folder and row. Raises ``StudioError`` naming why a run cannot be resumed."""
    from studio.cli import attach_for_resume

    spec, recorder = attach_for_resume(get_store(), run_id)
    return _submit(spec, recorder, resume=True)


def _submit(spec: Spec, recorder: RunRecorder, *, resume: bool):
    from studio.cli import engine_for

    engine = engine_for(spec.kind)
    manager = get_manager()

    def work(job):
        return engine(
            spec,
            recorder.output_dir,
            manager=manager,
            events=Fanout(recorder, job),
            cancel=job.token,
            resume=resume,
        )

    return get_jobs().submit(
        work,
        device=spec.diffusion.device,
        label=f"{spec.kind} {recorder.run_id}" + (" (resumed)" if resume else ""),
        meta={"run_id": recorder.run_id, "kind": spec.kind, "resumed": resume},
        on_skip=recorder.cancelled,
    )
