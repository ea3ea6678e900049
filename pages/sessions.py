"""Sessions: rename, annotate, archive or delete a session; push it to / pull it from the Hub."""

import streamlit as st

from db import StoreError
from db.files import human_bytes
from db.repository import (
    delete_session,
    get_session,
    list_sessions,
    rename_session,
    session_stats,
    session_to_dict,
    slugify,
    update_session,
)
from ui.resources import get_store
from ui.sidebar import current
from ui.state import keep, set_value
from ui.text import plain

st.title("Sessions")
# Actions run as callbacks, before this script, so their outcome is drawn in the same click.
if "sessions.message" in st.session_state:
    st.success(plain(st.session_state.pop("sessions.message")))
if "sessions.error" in st.session_state:
    st.error(plain(st.session_state.pop("sessions.error")))
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


def _disarm() -> None:
    """Another session chosen, or this one gone: a typed name or a ticked delete belonged to
    the one before."""
    st.session_state["sessions.new_name"] = ""
    st.session_state["sessions.confirm_delete"] = False


def _rename(slug: str) -> None:
    name = st.session_state["sessions.new_name"].strip()
    new_slug = slugify(name)
    try:
        with store.begin() as s:
            # The title follows the name only while it is still the automatic one (the old
            # name): one the user saved is theirs, read here in the same transaction.
            named_by_hand = get_session(s, slug).title != slug
            rename_session(s, store.home, slug, new_slug, title=None if named_by_hand else name)
    except (StoreError, ValueError) as exc:  # ValueError: a title the store refuses
        _failed(exc)
        return
    if current().session == slug:
        set_value("sidebar.session", new_slug)
    st.session_state["sessions.slug"] = new_slug
    _disarm()
    _done(f"Renamed {slug} to {new_slug}.")


def _delete(slug: str) -> None:
    try:
        with store.begin() as s:
            deleted = delete_session(s, store.home, slug)
    except StoreError as exc:
        _failed(exc)
        return
    _disarm()
    _done(f"Deleted session {slug} and its {deleted} runs.")


if sessions:
    slugs = [x["slug"] for x in sessions]
    if st.session_state.get("sessions.slug") not in slugs:
        st.session_state["sessions.slug"] = (
            current().session if current().session in slugs else slugs[0]
        )
    slug = st.selectbox("Session to edit", slugs, key="sessions.slug", on_change=_disarm)
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
            except (StoreError, ValueError) as exc:  # ValueError: a value the store refuses
                _failed(exc)
            else:
                _done(f"Saved session {slug}.")
            st.rerun()

    c1, c2 = st.columns(2)
    with c1.container(border=True):
        new_name = st.text_input("Rename to", key="sessions.new_name")
        st.button(
            "Rename",
            key="sessions.rename",
            disabled=not new_name.strip(),
            on_click=_rename,
            args=(slug,),
        )
    with c2.container(border=True):
        n = stats[slug]
        sure = st.checkbox(
            f"Delete {slug}: {n.runs} runs and {human_bytes(n.bytes)} of outputs, for good",
            key="sessions.confirm_delete",
        )
        st.button(
            "Delete session",
            key="sessions.delete",
            disabled=not sure,
            type="primary",
            on_click=_delete,
            args=(slug,),
        )

st.subheader("Hugging Face Hub")
st.caption(
    "A dataset repo holds many sessions. The Hub login comes from `hf auth login` or the "
    "HF_TOKEN variable; the studio never stores a token."
)
keep("sessions.repo", "")
repo = st.text_input("Dataset repo", key="sessions.repo", placeholder="your-name/latent-studio")
h1, h2 = st.columns(2)
with h1.container(border=True):
    keep("sessions.public", False)
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

        st.session_state.pop("sessions.remote", None)  # never show another repo's list
        try:
            with st.spinner("Reading the repo…"):
                st.session_state["sessions.remote"] = [
                    r.to_dict() for r in list_remote_sessions(repo.strip())
                ]
        except StoreError as exc:
            st.error(plain(str(exc)))  # here: the messages at the top are drawn already
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
        wanted = st.selectbox(
            "Session to pull", [r["slug"] for r in remote], key="sessions.pull_slug"
        )
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
