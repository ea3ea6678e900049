"""``runs list`` and ``runs show``: the history of runs, read from the store."""

from __future__ import annotations

import argparse
import json

from studio.errors import SpecError

__all__ = ["runs"]


def runs(args: argparse.Namespace) -> int:
    """Print runs newest first (``list``) or one run with its spec and outputs (``show``)."""
    from db.repository import get_run, list_runs, run_to_dict
    from studio.app.store import store_for

    with store_for().session() as s:
        if args.runs_command == "list":
            found = [
                run_to_dict(r)
                for r in list_runs(
                    s, session_slug=args.session, status=args.status, limit=args.limit
                )
            ]
            if args.json:
                print(json.dumps(found))
            else:
                for r in found:
                    print(
                        f"{r['id']}  {r['status']:<11} {r['kind']:<9} {r['session']:<16} {r['created_at']}"
                    )
            return 0
        try:
            run = run_to_dict(get_run(s, args.run_id))
        except LookupError as exc:
            raise SpecError(str(exc).strip("'\"")) from None
        print(json.dumps(run, indent=None if args.json else 2))
    return 0
