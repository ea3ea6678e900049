"""Start renders from the dashboard: record the run, then run the engine as a background job."""

from __future__ import annotations

from db import RunRecorder
from studio.events import Fanout
from studio.spec import AnimationSpec
from ui.resources import get_jobs, get_manager, get_store

__all__ = ["submit_animation"]


def submit_animation(spec: AnimationSpec, session_slug: str):
    """Queue ``spec`` on its device's worker; returns the ``studio.jobs.Job``.

    The run row exists (status queued) before this returns, so History shows it at once.
    """
    from studio.animate import render_animation

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
    manager = get_manager()

    def work(job):
        return render_animation(
            spec,
            recorder.output_dir,
            manager=manager,
            events=Fanout(recorder, job),
            cancel=job.token,
        )

    return get_jobs().submit(
        work,
        device=spec.diffusion.device,
        label=f"animation {recorder.run_id}",
        meta={"run_id": recorder.run_id, "kind": spec.kind},
        on_skip=recorder.cancelled,
    )
