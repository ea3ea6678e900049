"""Start renders from the dashboard: ``studio.app.runs`` records the run, then renders it as
a background job on the dashboard's ``JobRunner``.

Each job carries what its panel needs to say how long it will take (the predicted denoise
steps and the step speed at submission) and which browser tab started it (``owner``), so a
tab lists its own renders and only counts the others'.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import streamlit as st

from db.repository import list_runs, run_to_dict
from studio.app import runs
from studio.errors import StudioError
from studio.spec import AnimationSpec, BlendSpec, Spec
from ui.estimate import StepSpeed, first_guess, step_speed
from ui.resources import get_jobs, get_manager, get_store, home
from ui.state import get_value
from ui.text import plain

__all__ = [
    "owner",
    "render_button",
    "speed_for",
    "submit_animation",
    "submit_blend",
    "submit_resume",
    "submit_spec",
    "mlflow_option",
]

RUNS_MEASURED = 200  # recent finished runs searched for a measured step speed
_OWNER = "_render_owner"


def owner() -> str:
    """This browser tab's id, for telling its jobs from other tabs' jobs."""
    return st.session_state.setdefault(_OWNER, uuid.uuid4().hex[:12])


def speed_for(model: str, width: int, height: int, device: str) -> StepSpeed:
    """Seconds per denoise step for ``model`` at this size: measured by this store's finished
    runs where there are any, else a first guess for the device."""
    with get_store().session() as s:
        recent = [run_to_dict(r) for r in list_runs(s, status="done", limit=RUNS_MEASURED)]
    measured = step_speed(recent, model, width, height)
    if measured is not None:
        return measured
    return first_guess(model, width, height, gpu=_device_is_gpu(device))


def _device_is_gpu(device: str) -> bool:
    from studio.errors import StudioError
    from studio.pipeline.models import resolve_device

    try:
        return resolve_device(device).type != "cpu"
    except StudioError:
        return False


def render_button(
    key: str, job_key: str, build: Callable[[], tuple[Spec, str, int | None]], *, disabled: bool
) -> None:
    """A page's *Render* button: ``build()`` makes the spec, the session it goes into and its
    predicted denoise steps from the widgets, and the job's id goes into
    ``st.session_state[job_key]``.

    The render is queued in the button's callback, which Streamlit calls before the next
    script run of this tab, whichever page that run draws. Queued in the page's body instead,
    a click followed at once by a page switch (a busy server, a quick user) was lost: the
    switch's run replaced the click's before it reached the button.
    """
    st.button(
        "Render", type="primary", key=key, disabled=disabled, on_click=_queue, args=(job_key, build)
    )
    if error := st.session_state.pop(f"{job_key}.error", None):
        st.error(plain(error))


def _queue(job_key: str, build: Callable[[], tuple[Spec, str, int | None]]) -> None:
    try:
        spec, session_slug, predicted_steps = build()
        job = submit_spec(spec, session_slug, predicted_steps)
    except StudioError as exc:
        st.session_state[f"{job_key}.error"] = str(exc)
    else:
        st.session_state[job_key] = job.id


def submit_animation(spec: AnimationSpec, session_slug: str, predicted_steps: int | None = None):
    """Queue ``spec`` on its device's worker; returns the ``studio.app.jobs.Job``.

    The run row exists (status queued) before this returns, so History shows it at once.
    ``predicted_steps`` (the plan's denoise steps) lets the job panel estimate its time
    before it starts.
    """
    return submit_spec(spec, session_slug, predicted_steps)


def submit_blend(spec: BlendSpec, session_slug: str, predicted_steps: int | None = None):
    """Queue a latent-blending movie, like ``submit_animation``."""
    return submit_spec(spec, session_slug, predicted_steps)


def submit_spec(spec: Spec, session_slug: str, predicted_steps: int | None = None):
    """Queue a render of any kind of spec (History's re-run); raises ``StudioError`` for a bad
    spec before anything is recorded."""
    return runs.submit(
        spec,
        session_slug=session_slug,
        jobs=get_jobs(),
        home=home(),
        manager=get_manager(),
        meta_for=lambda spec: _meta(spec, predicted_steps),
        mlflow=mlflow_option(),
    )


def mlflow_option() -> bool | str | None:
    """The sidebar's *Log runs to MLflow*: None (off), True (``$MLFLOW_TRACKING_URI`` or the
    home's own store) or the tracking URI typed there (``studio.app.tracking``)."""
    if not get_value("sidebar.mlflow", False):
        return None
    uri = str(get_value("sidebar.mlflow_uri", "") or "").strip()
    return uri or True


def submit_resume(run_id: str):
    """Queue the rest of interrupted run ``run_id``: it continues from its last finished frame
    into its own folder and row. Raises ``StudioError`` naming why a run cannot be resumed."""
    return runs.submit_resume(
        run_id,
        jobs=get_jobs(),
        home=home(),
        manager=get_manager(),
        meta_for=lambda spec: _meta(spec, None),
        mlflow=mlflow_option(),
    )


def _meta(spec: Spec, predicted_steps: int | None) -> dict:
    """What the job panel needs besides the run: this tab, and what the time estimate uses."""
    d = spec.diffusion
    speed = speed_for(d.model, d.width, d.height, d.device)
    return {
        "owner": owner(),
        "predicted_steps": predicted_steps,
        "seconds_per_step": speed.seconds_per_step,
    }
