"""History: find runs, read their settings, compare two, restore one into its page, re-run."""

from copy import copy
from datetime import UTC, date, datetime

import streamlit as st

from db.repository import list_runs, list_sessions, run_to_dict, session_to_dict
from studio.errors import StudioError
from studio.spec import diff_specs, load_spec
from ui import blend_form, spec_form
from ui.charts import smoothness_chart
from ui.history import (
    ago,
    compare_rows,
    local_zone,
    matches,
    prompt_summary,
    prompts_text,
    reproduction,
    smoothness_of,
    sort_runs,
    timing_rows,
    timings_chart,
    took,
    when,
)
from ui.job_panel import FOCUS_RUN, job_panel
from ui.render import submit_resume, submit_spec
from ui.resources import get_jobs, get_store
from ui.scale_panel import draw_scale_out_record
from ui.sidebar import current
from ui.state import keep, set_value
from ui.text import plain

RUNS_SHOWN = 1000
STATUSES = ("", "queued", "running", "done", "failed", "cancelled", "interrupted")
FILTERS = {  # widget key -> its value when nothing is filtered
    "history.text": "",
    "history.model": "",
    "history.status": "",
    "history.session": "",
    "history.tags": [],
    "history.since": None,
    "history.until": None,
    "history.max_jump": None,
    "history.sort": "newest",
}
SORT_LABELS = {
    "newest": "newest first",
    "evenness": "most even motion first",
    "jump": "smallest largest jump first",
}
# Run kind -> (the form that restores its spec, the page that form belongs to).
FORMS = {
    "animation": (spec_form, "pages/prompt_schedule.py"),
    "blend": (blend_form, blend_form.PAGE),
}

st.title("History")
store = get_store()
store.mark_interrupted()  # a CLI render killed while the dashboard was open
with store.session() as s:
    sessions = [session_to_dict(x) for x in list_sessions(s)]
    runs = [run_to_dict(r) for r in list_runs(s, limit=RUNS_SHOWN)]
tags_of = {x["slug"]: x["tags"] for x in sessions}
now, zone = datetime.now(UTC), local_zone(st.context.timezone)  # the browser's zone

st.subheader("Sessions")
if not sessions:
    st.info("No sessions yet: every render records its session, run and outputs here.")
else:
    counts: dict[str, int] = {}
    for r in runs:
        counts[r["session"]] = counts.get(r["session"], 0) + 1
    st.dataframe(
        [
            {
                "session": x["slug"],
                "title": x["title"],
                "runs": counts.get(x["slug"], 0),
                "tags": ", ".join(x["tags"]),
                "archived": x["archived"],
                "created": when(x["created_at"], now=now, zone=zone),
                "notes": x["notes"],
            }
            for x in sessions
        ],
        hide_index=True,
        width="stretch",
    )


def _score(run: dict, key: str) -> str:
    score = smoothness_of(run)
    return "" if score is None else f"{score[key]:.3f}"


st.subheader("Runs")
# The filters stay set while the user visits other pages (ui/state.py).
# "Open run ... in History" on a render's panel: every filter off, that run selected.
focus = st.session_state.pop(FOCUS_RUN, None)
for key, default in FILTERS.items():
    if focus is not None:
        set_value(key, copy(default))
    keep(key, copy(default))
session_choices = [""] + [x["slug"] for x in sessions]
all_tags = sorted({t for x in sessions for t in x["tags"]})
if st.session_state["history.session"] not in session_choices:  # renamed or deleted since
    set_value("history.session", "")
if not set(st.session_state["history.tags"]) <= set(all_tags):
    set_value("history.tags", [t for t in st.session_state["history.tags"] if t in all_tags])
f1, f2, f3, f4 = st.columns([3, 2, 2, 2])
text = f1.text_input("Search prompts", key="history.text", placeholder="e.g. red circle")
model = f2.text_input("Model contains", key="history.model")
status = f3.selectbox("Status", STATUSES, key="history.status", format_func=lambda s: s or "any")
session = f4.selectbox(
    "Filter by session", session_choices, key="history.session", format_func=lambda s: s or "all"
)
g1, g2, g3, g4, g5 = st.columns([3, 2, 2, 2, 2])
tags = g1.multiselect("Session tags", all_tags, key="history.tags")
since = g2.date_input("From", value=None, key="history.since")
until = g3.date_input("To", value=None, key="history.until")
max_jump = g4.number_input(
    "Largest jump at most",
    min_value=0.0,
    max_value=2.0,
    value=None,
    step=0.01,
    format="%.3f",
    key="history.max_jump",
    help="1 - SSIM between neighbouring frames: runs whose biggest jump is this or less",
)
order = g5.selectbox(
    "Sort", list(SORT_LABELS), key="history.sort", format_func=SORT_LABELS.__getitem__
)
shown = [
    r
    for r in sort_runs(runs, order)
    if matches(
        r,
        text=text,
        model=model,
        status=status,
        session=session,
        tags=set(tags),
        session_tags=tags_of,
        since=since if isinstance(since, date) else None,
        until=until if isinstance(until, date) else None,
        max_jump=max_jump,
    )
]
st.caption(f"{len(shown)} of {len(runs)} runs")
st.dataframe(
    [
        {
            "run": r["id"],
            "session": r["session"],
            "kind": r["kind"],
            "status": r["status"],
            "prompt": prompt_summary(r["spec"]),
            "frames": f"{r['frames_done']}/{r['frames_total'] or '?'}",
            "model": r["model_ref"],
            "seed": str(r["seed"]),
            "denoise steps": r["denoise_steps"],
            "time": took(r["timings"]),
            "evenness (CV)": _score(r, "cv"),
            "largest jump": _score(r, "max_jump"),
            "created": when(r["created_at"], now=now, zone=zone),
            "error": r["error"] or "",
        }
        for r in shown
    ],
    hide_index=True,
    width="stretch",
)

if shown:
    by_id = {r["id"]: r for r in runs}
    if focus in by_id:
        st.session_state["history.run"] = focus
    run_id = st.selectbox("Run", [r["id"] for r in shown], key="history.run")
    run = by_id[run_id]
    created = when(run["created_at"], now=now, zone=zone)
    spent = took(run["timings"])
    st.markdown(
        f"**{plain(run['id'])}** · {plain(run['session'])} · {plain(run['status'])} · "
        f"{created}, {ago(run['created_at'], now=now)}"
        + (f" · took {plain(spent)}" if spent else "")
    )
    if run["error"]:
        st.error(plain(run["error"]))
    tab_spec, tab_timing, tab_smooth, tab_outputs, tab_diff = st.tabs(
        ["Spec", "Timings", "Smoothness", "Outputs", "Compare"]
    )
    with tab_spec:
        st.code(prompts_text(run["spec"]), language=None)
        st.json(run["spec"], expanded=False)
    with tab_timing:
        st.caption(
            plain(
                f"seed {run['seed']} · device {run['device']} · {run['denoise_steps']} denoise "
                f"steps (predicted {run['predicted_denoise_steps']})"
            )
        )
        if run["timings"]:
            st.plotly_chart(timings_chart(run["timings"]), key="history.timings_chart")
            st.table(timing_rows(run["timings"]), hide_index=True, width="content")
        else:
            st.caption("No timings recorded: the run did not finish.")
        draw_scale_out_record(run)  # a render over Ray workers: its shards and their seconds
        with st.expander("Library versions"):
            st.json(run["versions"])
    with tab_smooth:
        score = smoothness_of(run)
        if score is None:
            st.caption("No smoothness score: the run wrote no file, or predates the score.")
        else:
            jump_at = score.get("max_jump_frame")
            st.caption(
                plain(
                    f"1 - SSIM from each frame to the next: mean {score['mean']:.3f}, "
                    f"evenness (CV) {score['cv']:.3f}, largest jump {score['max_jump']:.3f}"
                    + (f" into frame {jump_at}" if jump_at is not None else "")
                )
            )
            st.plotly_chart(smoothness_chart(score), key="history.smoothness_chart")
    with tab_outputs:
        st.json(run["outputs"])
    with tab_diff:
        other_id = st.selectbox(
            "Compare with", [r["id"] for r in runs if r["id"] != run_id], key="history.other"
        )
        if other_id:
            rows = diff_specs(run["spec"], by_id[other_id]["spec"])
            if rows:
                # A static table wraps long values (a schedule) instead of cutting them off.
                st.table(compare_rows(rows, run_id, other_id), hide_index=True)
            else:
                st.success("The two runs have the same settings.")

    form, form_page = FORMS.get(run["kind"], FORMS["animation"])

    def _restore(spec: dict, groups: tuple[str, ...]) -> None:
        # A callback runs before the next script run, when the sidebar's widgets may change.
        try:
            form.restore(load_spec(spec), groups)
        except StudioError as exc:
            st.session_state["history.restore_error"] = str(exc)
        else:
            st.session_state["history.go_to_page"] = form_page

    def _rerun(run: dict) -> None:
        try:
            job = submit_spec(load_spec(run["spec"]), current().session)
        except StudioError as exc:
            st.session_state["history.rerun_error"] = str(exc)
        else:
            st.session_state["history.rerun_job"] = job.id
            st.session_state["history.rerun_of"] = run["id"]

    def _resume(run_id: str) -> None:
        try:
            st.session_state["history.resume_job"] = submit_resume(run_id).id
        except StudioError as exc:
            st.session_state["history.resume_error"] = str(exc)

    c1, c2 = st.columns(2)
    with c1.container(border=True):
        # A key per kind: each kind has its own groups, and a kept choice must fit them.
        groups_key = (
            "history.groups" if run["kind"] == "animation" else f"history.groups.{run['kind']}"
        )
        groups = st.multiselect("Groups", form.GROUPS, default=list(form.GROUPS), key=groups_key)
        st.button(
            "Restore settings",
            key="history.restore",
            disabled=not groups,
            on_click=_restore,
            args=(run["spec"], tuple(groups)),
        )
        if "history.restore_error" in st.session_state:
            st.error(plain(st.session_state.pop("history.restore_error")))
        if go_to := st.session_state.pop("history.go_to_page", None):
            st.switch_page(go_to)
    with c2.container(border=True):
        st.caption("Render this run's spec again into the current session.")
        # Queued in the callback, like the pages' Render (ui.render.render_button).
        st.button("Re-run", key="history.rerun", type="primary", on_click=_rerun, args=(run,))
        if error := st.session_state.pop("history.rerun_error", None):
            st.error(plain(error))

    if run["status"] == "interrupted":
        with st.container(border=True):
            st.caption(
                f"This run was interrupted after {run['frames_done']} frames. Resume goes on "
                "from its last finished frame, into the same run and folder."
            )
            st.button(
                "Resume", key="history.resume", type="primary", on_click=_resume, args=(run_id,)
            )
            if error := st.session_state.pop("history.resume_error", None):
                st.error(plain(error))
    job_panel("history.resume_job")

    job_panel("history.rerun_job")
    job = get_jobs().get(st.session_state.get("history.rerun_job", ""))
    original = by_id.get(st.session_state.get("history.rerun_of", ""))
    if job is not None and job.is_finished and original is not None:
        new = by_id.get(job.meta.get("run_id"))
        if new is not None:
            same, message = reproduction(original, new)
            (st.success if same else st.warning)(plain(f"Re-run of {original['id']}: {message}"))
