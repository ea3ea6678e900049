"""Sessions: rename, annotate, archive or delete a session; push it to / pull it from the Hub."""

import streamlit as st

from db import StoreError
from db.files import human_bytes
from db.repository import (
    delete_session,
    list_sessions,
    rename_session,
    session_stats,
    session_to_dict,
    slugify,
    update_session,
)
from ui.resources import get_store
from ui.sidebar import current
from ui.state import set_value

st.title("Sessions")
if "sessions.message" in st.session_state:
    st.success(st.session_state.pop("sessions.message"))
if "sessions.error" in st.session_state:
    st.error(st.session_state.pop("sessions.error"))
store = get_store()
with store.session() as s:
    sessions = [session_to_dict(x) for x in list_sessions(s)]
    stats = session_stats(s)

if not sessions:
    st.info("No sessions yet: a render files itself under the sidebar's session.")
else:
    st.dataframe(
        [
            {
                "session": x["slug"],
                "title": x["title"],
                "runs": stats[x["slug"]].runs,
                "outputs": stats[x["slug"]].outputs,
                "size": human_bytes(stats[x["slug"]].bytes),
                "tags": ", ".join(x["tags"]),
                "archived": x["archived"],
                "hub repo": x["hub_repo"] or "",
                "last sync": x["last_sync_at"] or "",
            }
            for x in sessions
        ],
        hide_index=True,
        width="stretch",
    )


def _done(message: str) -> None:
    st.session_state["sessions.message"] = message


def _failed(exc: Exception) -> None:
    st.session_state["sessions.error"] = str(exc)


if sessions:
    slugs = [x["slug"] for x in sessions]
    default = slugs.index(current().session) if current().session in slugs else 0
    slug = st.selectbox("Session", slugs, index=default, key="sessions.slug")
    info = next(x for x in sessions if x["slug"] == slug)

    with st.form("sessions.edit"):
        title = st.text_input("Title", info["title"])
        notes = st.text_area("Notes", info["notes"])
        tags = st.text_input("Tags (comma-separated)", ", ".join(info["tags"]))
        archived = st.checkbox("Archived", info["archived"])
        if st.form_submit_button("Save"):
            try:
                with store.begin() as s:
                    update_session(
                        s,
                        slug,
                        title=title,
                        notes=notes,
                        archived=archived,
                        tags=[t.strip() for t in tags.split(",") if t.strip()],
                    )
            except StoreError as exc:
                _failed(exc)
            else:
                _done(f"Saved session {slug}.")
            st.rerun()

    c1, c2 = st.columns(2)
    with c1.container(border=True):
        new_name = st.text_input("Rename to", key="sessions.new_name")
        if st.button("Rename", key="sessions.rename", disabled=not new_name.strip()):
            new_slug = slugify(new_name)
            try:
                with store.begin() as s:
                    rename_session(s, store.home, slug, new_slug, title=new_name.strip())
            except StoreError as exc:
                _failed(exc)
            else:
                if current().session == slug:
                    set_value("sidebar.session", new_slug)
                _done(f"Renamed {slug} to {new_slug}.")
            st.rerun()
    with c2.container(border=True):
        n = stats[slug]
        sure = st.checkbox(
            f"Delete {slug}: {n.runs} runs and {human_bytes(n.bytes)} of outputs, for good",
            key="sessions.confirm_delete",
        )
        if st.button("Delete session", key="sessions.delete", disabled=not sure, type="primary"):
            try:
                with store.begin() as s:
                    deleted = delete_session(s, store.home, slug)
            except StoreError as exc:
                _failed(exc)
            else:
                _done(f"Deleted session {slug} and its {deleted} runs.")
            st.rerun()

st.subheader("Hugging Face Hub")
st.caption(
    "A dataset repo holds many sessions. The Hub login comes from `hf auth login` or the "
    "HF_TOKEN variable; the studio never stores a token."
)
repo = st.text_input("Dataset repo", key="sessions.repo", placeholder="your-name/latent-studio")
h1, h2 = st.columns(2)
with h1.container(border=True):
    public = st.checkbox("Public (a new repo is private by default)", key="sessions.public")
    if st.button("Push session", key="sessions.push", disabled=not (repo and sessions)):
        from db.hub import push_session

        try:
            with st.spinner("Pushing…"):
                report = push_session(store, slug, repo.strip(), private=not public)
        except StoreError as exc:
            _failed(exc)
        else:
            _done(report.summary())
        st.rerun()
with h2.container(border=True):
    if st.button("List the repo's sessions", key="sessions.list_remote", disabled=not repo):
        from db.hub import list_remote_sessions

        try:
            with st.spinner("Reading the repo…"):
                st.session_state["sessions.remote"] = [
                    r.to_dict() for r in list_remote_sessions(repo.strip())
                ]
        except StoreError as exc:
            _failed(exc)
    remote = st.session_state.get("sessions.remote") or []
    if remote:
        st.dataframe(
            [
                {
                    "session": r["slug"],
                    "title": r["title"],
                    "runs": r["runs"],
                    "files": r["files"],
                    "size": human_bytes(r["bytes"]),
                    "problem": r["problem"] or "",
                }
                for r in remote
            ],
            hide_index=True,
            width="stretch",
        )
        wanted = st.selectbox("Pull", [r["slug"] for r in remote], key="sessions.pull_slug")
        settings_only = st.checkbox("Settings only (no output files)", key="sessions.settings_only")
        as_name = st.text_input("Import as (if the name is taken here)", key="sessions.as_name")
        if st.button("Pull session", key="sessions.pull"):
            from db.hub import pull_session

            try:
                with st.spinner("Downloading and checking every file…"):
                    report = pull_session(
                        store,
                        repo.strip(),
                        wanted,
                        with_outputs=not settings_only,
                        as_slug=slugify(as_name) if as_name.strip() else None,
                    )
            except StoreError as exc:
                _failed(exc)
            else:
                _done(report.summary())
            st.rerun()
