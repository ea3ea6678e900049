"""``sessions``: list, show, edit, push and pull experiment sessions, and list a Hub repo's."""

from __future__ import annotations

import argparse
import json

from db import Store
from studio.app.store import store_for
from studio.errors import SpecError

__all__ = ["sessions"]


def sessions(args: argparse.Namespace) -> int:
    """Run ``sessions list|show|edit|push|pull|remote``; returns the exit status (0)."""
    command = args.sessions_command
    if command == "remote":
        return _sessions_remote(args)
    store = store_for()
    if command == "list":
        return _sessions_list(store, args)
    if command == "show":
        return _sessions_show(store, args)
    if command == "edit":
        return _sessions_edit(store, args)
    if command == "push":
        from db.hub import push_session

        report = push_session(
            store, args.name, args.repo, private=not args.public, replace=args.replace
        )
    else:
        from db.hub import pull_session

        try:
            report = pull_session(
                store,
                args.repo,
                args.session,
                with_outputs=not args.settings_only,
                as_slug=args.as_slug,
                on_conflict="rename" if args.rename_if_exists else "error",
            )
        except ValueError as exc:  # an invalid --as slug
            raise SpecError(f"--as: {exc}") from None
    print(json.dumps(report.to_dict()) if args.json else report.summary())
    return 0


def _sessions_list(store: Store, args: argparse.Namespace) -> int:
    from db.files import human_bytes
    from db.repository import list_sessions, session_stats, session_to_dict

    with store.session() as s:
        stats = session_stats(s)
        rows = [{**session_to_dict(x), **vars(stats[x.slug])} for x in list_sessions(s)]
    if args.json:
        print(json.dumps(rows))
        return 0
    for r in rows:
        synced = f"  hub: {r['hub_repo']} ({r['last_sync_at'][:16]})" if r["hub_repo"] else ""
        archived = "  [archived]" if r["archived"] else ""
        print(
            f"{r['slug']:<24} {r['runs']:>4} runs {r['outputs']:>4} outputs "
            f"{human_bytes(r['bytes']):>10}  {r['title']}{archived}{synced}"
        )
    return 0


def _sessions_show(store: Store, args: argparse.Namespace) -> int:
    from db.repository import (
        get_session,
        input_to_dict,
        list_runs,
        run_to_dict,
        session_stats,
        session_to_dict,
    )

    with store.session() as s:
        session = get_session(s, args.name)
        data = {
            "session": {**session_to_dict(session), **vars(session_stats(s)[session.slug])},
            "runs": [run_to_dict(r) for r in list_runs(s, session_slug=session.slug)],
            "inputs": [input_to_dict(m) for m in session.inputs],
        }
    print(json.dumps(data, indent=None if args.json else 2))
    return 0


def _sessions_edit(store: Store, args: argparse.Namespace) -> int:
    """Change what the flags give; nothing given is an error, a bad value one line."""
    from db.repository import session_to_dict, update_session

    changes = {
        "title": args.title,
        "notes": args.notes,
        "tags": None if args.tags is None else [t for t in args.tags.split(",") if t.strip()],
        "archived": args.archived,
    }
    if all(value is None for value in changes.values()):
        raise SpecError("give at least one of --title, --notes, --tags, --archive, --unarchive")
    try:
        with store.begin() as s:
            session = session_to_dict(update_session(s, args.name, **changes))
    except ValueError as exc:  # a title or tag the store refuses (an unknown name: NotFound)
        raise SpecError(str(exc)) from None
    if args.json:
        print(json.dumps(session))
    else:
        print(f"session {session['slug']}: saved")
    return 0


def _sessions_remote(args: argparse.Namespace) -> int:
    from db.files import human_bytes
    from db.hub import list_remote_sessions

    sessions = list_remote_sessions(args.repo)
    if args.json:
        print(json.dumps([r.to_dict() for r in sessions]))
        return 0
    for r in sessions:
        if r.problem:
            print(f"{r.slug:<24} cannot be pulled: {r.problem}")
        else:
            print(
                f"{r.slug:<24} {r.runs:>4} runs {r.files:>5} files {human_bytes(r.bytes):>10}  "
                f"{r.title}"
            )
    return 0
