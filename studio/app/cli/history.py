"""``runs list``, ``show``, ``search`` and ``compare``: the history of runs, read from the
store; search and compare are the History page's (``studio.app.history``)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from studio.errors import SpecError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["runs"]


def runs(args: argparse.Namespace) -> int:
    """``runs list|show|search|compare|delete``; returns the exit status."""
    from db.repository import get_run, list_runs, run_to_dict
    from studio.app.store import store_for

    if args.runs_command == "delete":
        return _delete(args)
    with store_for().session() as s:
        if args.runs_command == "list":
            found = [
                run_to_dict(r)
                for r in list_runs(
                    s, session_slug=args.session, status=args.status, limit=args.limit
                )
            ]
            _print_runs(found, args.json)
            return 0
        if args.runs_command == "search":
            return _search(s, args)
        if args.runs_command == "compare":
            return _compare(s, args)
        try:
            run = run_to_dict(get_run(s, args.run_id))
        except LookupError as exc:
            raise SpecError(str(exc).strip("'\"")) from None
        print(json.dumps(run, indent=None if args.json else 2))
        if not args.json:
            from studio.app.history import scale_out_lines

            for line in scale_out_lines(run):
                print(line)
    return 0


def _print_runs(found: list[dict], as_json: bool) -> None:
    from studio.app.history import smoothness_of

    if as_json:
        print(json.dumps(found))
        return
    for r in found:
        line = f"{r['id']}  {r['status']:<11} {r['kind']:<9} {r['session']:<16} {r['created_at']}"
        score = smoothness_of(r)
        if score is not None:  # how evenly it moves, and its largest jump
            line += f"  cv {score['cv']:.3f}  jump {score['max_jump']:.3f}"
            if score.get("max_jump_frame") is not None:
                line += f" at frame {score['max_jump_frame']}"
        print(line)


def _search(s: Session, args: argparse.Namespace) -> int:
    """Runs that pass every filter given, at most ``--limit``, newest first or in the
    ``--sort`` order."""
    from db.repository import list_runs, list_sessions, run_to_dict
    from studio.app.history import matches, sort_runs

    tags = {x.slug: list(x.tags) for x in list_sessions(s)}
    found = []
    for run in list_runs(s, session_slug=args.session or None):
        r = run_to_dict(run)
        wanted = set(args.tag) if args.tag else None
        if matches(
            r,
            text=args.text,
            model=args.model,
            status=args.status,
            tags=wanted,
            session_tags=tags,
            since=args.since,
            until=args.until,
            max_jump=args.max_jump,
        ):
            found.append(r)
            if len(found) == args.limit and args.sort == "newest":
                break
    _print_runs(sort_runs(found, args.sort)[: args.limit], args.json)
    return 0


def _delete(args: argparse.Namespace) -> int:
    """Delete a run once ``--yes`` confirms it; without it, say what would go."""
    from db.repository import delete_run, get_run
    from studio.app.store import store_for

    store = store_for()
    with store.session() as s:
        try:
            run = get_run(s, args.run_id)
        except LookupError as exc:
            raise SpecError(str(exc).strip("'\"")) from None
        files = len(run.outputs)
    if not args.yes:
        print(
            f"run {args.run_id} ({run.status}, {files} output file(s)) would be deleted with "
            "its folder; nothing can bring it back. Add --yes to delete it."
        )
        return 1
    with store.begin() as s:
        delete_run(s, store.home, args.run_id)
    print(f"deleted run {args.run_id} and its {files} output file(s)")
    return 0


def _compare(s: Session, args: argparse.Namespace) -> int:
    """The settings in which two runs' specs differ, as the History page's compare shows."""
    from db.repository import get_run
    from studio.spec import diff_specs

    specs = []
    for run_id in (args.run_a, args.run_b):
        try:
            specs.append(get_run(s, run_id).spec)
        except LookupError as exc:
            raise SpecError(str(exc).strip("'\"")) from None
    rows = diff_specs(*specs)
    if args.json:
        print(json.dumps([list(row) for row in rows]))
    elif not rows:
        print("the two runs have the same settings")
    else:
        for path, a, b in rows:
            print(f"{path}: {json.dumps(a)} -> {json.dumps(b)}")
    return 0
