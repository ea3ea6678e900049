"""History: sessions and their runs, with each run's spec, status, timings and outputs."""

import streamlit as st

from db.repository import list_runs, list_sessions, run_to_dict, session_to_dict
from ui.resources import get_store

RUNS_SHOWN = 500

st.title("History")
store = get_store()
store.mark_interrupted()  # a CLI render killed while the dashboard was open
with store.session() as s:
    sessions = [session_to_dict(x) for x in list_sessions(s)]
    runs = [run_to_dict(r) for r in list_runs(s, limit=RUNS_SHOWN)]

st.subheader("Sessions")
if not sessions:
    st.info("No sessions yet: every render records its session, run and outputs here.")
else:
    counts = {}
    for r in runs:
        counts[r["session"]] = counts.get(r["session"], 0) + 1
    st.dataframe(
        [
            {
                "session": x["slug"],
                "title": x["title"],
                "runs": counts.get(x["slug"], 0),
                "created": x["created_at"],
                "notes": x["notes"],
            }
            for x in sessions
        ],
        hide_index=True,
        width="stretch",
    )

st.subheader("Runs")
statuses = ["any status", "queued", "running", "done", "failed", "cancelled", "interrupted"]
f1, f2 = st.columns(2)
session_filter = f1.selectbox(
    "Session", ["all sessions"] + [x["slug"] for x in sessions], key="history.session"
)
status_filter = f2.selectbox("Status", statuses, key="history.status")
shown = [
    r
    for r in runs
    if (session_filter == "all sessions" or r["session"] == session_filter)
    and (status_filter == "any status" or r["status"] == status_filter)
]
st.dataframe(
    [
        {
            "run": r["id"],
            "session": r["session"],
            "kind": r["kind"],
            "status": r["status"],
            "frames": f"{r['frames_done']}/{r['frames_total'] or '?'}",
            "model": r["model_ref"],
            "seed": str(r["seed"]),
            "denoise steps": r["denoise_steps"],
            "seconds": (r["timings"] or {}).get("seconds"),
            "created": r["created_at"],
            "error": r["error"] or "",
        }
        for r in shown
    ],
    hide_index=True,
    width="stretch",
)
if shown:
    run_id = st.selectbox("Run", [r["id"] for r in shown], key="history.run")
    run = next(r for r in shown if r["id"] == run_id)
    st.markdown(f"**{run['id']}** — {run['status']}")
    if run["error"]:
        st.error(run["error"])
    c1, c2 = st.columns(2)
    with c1:
        st.markdown("Spec")
        st.json(run["spec"])
    with c2:
        st.markdown("Timings (seconds)")
        st.json(run["timings"])
        st.markdown("Outputs")
        st.json(run["outputs"])
        st.markdown("Library versions")
        st.json(run["versions"], expanded=False)
