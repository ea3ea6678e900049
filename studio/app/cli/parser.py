"""The command tree of ``python -m studio``: every command and its flags.

The render commands' flags (``animate``, ``blend``) live in ``studio.app.cli.flags``, next to
the functions that turn them into a spec; this module adds the rest: ``runs``, ``sessions``,
``models``, ``audio-keyframes`` and ``prompts`` (from ``studio.app.cli.prompts``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from db.models import RUN_STATUSES
from studio.app.cli.flags import add_animate_parser, add_blend_parser, add_mlflow_flags
from studio.app.cli.loading import add_allow_custom_pipeline
from studio.app.cli.prompts import add_prompts_parser
from studio.app.history import SORTS
from studio.errors import SpecError

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags as a StudioError (one line, exit 2) like any bad input."""

    def error(self, message: str) -> NoReturn:
        raise SpecError(f"{self.prog}: {message}")


if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction[_Parser]


MAX_LIST = 100_000  # rows a list command prints at most


def _count(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high``, else a message naming both."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high:,}, got {text}")
        return value

    return parse


def _day(text: str) -> date:
    """An argparse type: a date written YYYY-MM-DD."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-12-07") from None


def _distance(text: str) -> float:
    """An argparse type: a 1 - SSIM distance, a number from 0 to 2."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 2:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be from 0 to 2 (1 - SSIM), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; a bad flag raises ``SpecError`` (it does not exit)."""
    parser = _Parser(prog="python -m studio", description="Latent Studio command line")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    add_animate_parser(commands)
    add_blend_parser(commands)

    runs = commands.add_parser("runs", help="read the history of runs")
    runs_commands = runs.add_subparsers(dest="runs_command", required=True, parser_class=_Parser)
    runs_list = runs_commands.add_parser("list", help="runs, newest first")
    runs_list.add_argument("--session")
    runs_list.add_argument("--status", choices=RUN_STATUSES)
    runs_list.add_argument("--limit", type=_count(1, MAX_LIST), default=50)
    runs_list.add_argument("--json", action="store_true")
    search = runs_commands.add_parser("search", help="runs that pass the History page's filters")
    search.add_argument("--text", default="", help="in the prompts, negative prompt, id, error")
    search.add_argument("--model", default="", help="in the model reference")
    search.add_argument("--status", default="", choices=("", *RUN_STATUSES))
    search.add_argument("--session", default="", help="a session's slug")
    search.add_argument("--tag", action="append", default=[], help="a session tag (repeatable)")
    search.add_argument("--since", type=_day, help="created on or after YYYY-MM-DD")
    search.add_argument("--until", type=_day, help="created on or before YYYY-MM-DD")
    search.add_argument(
        "--max-jump",
        type=_distance,
        help="largest jump (1 - SSIM between neighbouring frames) at most this",
    )
    search.add_argument(
        "--sort",
        choices=SORTS,
        default="newest",
        help="newest first, most even motion first (evenness), or smallest largest jump first",
    )
    search.add_argument("--limit", type=_count(1, MAX_LIST), default=50)
    search.add_argument("--json", action="store_true")
    delete = runs_commands.add_parser("delete", help="delete a run, its outputs and its folder")
    delete.add_argument("run_id")
    delete.add_argument("--yes", action="store_true", help="do it (without: say what it would do)")
    compare = runs_commands.add_parser("compare", help="the settings two runs differ in")
    compare.add_argument("run_a")
    compare.add_argument("run_b")
    compare.add_argument("--json", action="store_true", help="a list of [setting, a, b]")
    runs_show = runs_commands.add_parser("show", help="one run with its spec and outputs")
    runs_show.add_argument("run_id")
    runs_show.add_argument("--json", action="store_true")
    runs_resume = runs_commands.add_parser(
        "resume", help="finish an interrupted run from its last finished frame"
    )
    runs_resume.add_argument("run_id")
    runs_resume.add_argument(
        "--json", action="store_true", help="print one JSON object with the result"
    )
    runs_resume.add_argument("--quiet", action="store_true", help="no progress bar")
    add_allow_custom_pipeline(runs_resume)
    add_mlflow_flags(runs_resume)
    rerun = runs_commands.add_parser(
        "rerun", help="render a run's spec again and say whether it reproduced the run"
    )
    rerun.add_argument("run_id")
    rerun.add_argument("--session", help="file the new run here (default: the run's own)")
    rerun.add_argument("--json", action="store_true", help="print one JSON object")
    rerun.add_argument("--quiet", action="store_true", help="no progress bar")
    add_allow_custom_pipeline(rerun)
    add_mlflow_flags(rerun)

    _add_sessions_parser(commands)

    commands.add_parser("models", help="list the built-in models")
    _add_audio_keyframes_parser(commands)
    add_prompts_parser(commands, _count)
    return parser


def _add_audio_keyframes_parser(commands: _Subparsers) -> None:
    keyframes = commands.add_parser(
        "audio-keyframes", help="key frames at the onsets (beats, notes) of an audio file"
    )
    keyframes.add_argument("file", type=Path, metavar="FILE", help="wav, mp3, ogg or flac")
    keyframes.add_argument("--fps", type=float, default=12.0, help="frames per second (12)")
    keyframes.add_argument(
        "--component",
        choices=["percussive", "harmonic", "both"],
        default="both",
        help="percussive (drums), harmonic (notes) or both: the whole track (default)",
    )
    keyframes.add_argument(
        "--json", action="store_true", help='print {"keyframes": [...], "timestamps": [...]}'
    )
    into = keyframes.add_argument_group(
        "writing the key frames into a schedule file (as the Audio & Video page does)"
    )
    into.add_argument(
        "--into",
        type=Path,
        metavar="SCHEDULE_FILE",
        help="merge the key frames into this prompt schedule file, keeping its prompts",
    )
    into.add_argument(
        "--merge",
        choices=["add", "move"],
        default="add",
        help="add: a new keyframe on each beat (default); move: move your keyframes to them",
    )
    into.add_argument(
        "--seed",
        type=_count(0, 2**63 - 1),
        default=0,
        help="the render's base seed: keyframes after a new line keep the seed they draw now "
        "(default 0, animate's default)",
    )
    into.add_argument(
        "--latents",
        choices=["keyframe", "fixed"],
        default="keyframe",
        help="as animate's: with fixed (one shared latent) no seeds are written",
    )
    into.add_argument(
        "--to-end",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a last key frame where the track ends (default: yes)",
    )
    into.add_argument(
        "--dry-run", action="store_true", help="print the merged schedule; write nothing"
    )


def _add_sessions_parser(commands: _Subparsers) -> None:
    sessions = commands.add_parser(
        "sessions", help="experiment sessions, and their sync with Hugging Face Hub dataset repos"
    )
    sessions_commands = sessions.add_subparsers(
        dest="sessions_command", required=True, parser_class=_Parser
    )
    sessions_list = sessions_commands.add_parser("list", help="sessions with their runs and sizes")
    sessions_list.add_argument("--json", action="store_true")
    sessions_show = sessions_commands.add_parser("show", help="one session, its runs and inputs")
    sessions_show.add_argument("name", help="the session's slug")
    sessions_show.add_argument("--json", action="store_true")
    edit = sessions_commands.add_parser(
        "edit", help="change a session's title, notes, tags or archived flag (as its page does)"
    )
    edit.add_argument("name", help="the session's slug")
    edit.add_argument("--title", help="1-200 characters")
    edit.add_argument("--notes", help="free text ('' clears them)")
    edit.add_argument("--tags", help="comma-separated, replacing the session's ('' clears them)")
    archive = edit.add_mutually_exclusive_group()
    archive.add_argument("--archive", dest="archived", action="store_true", default=None)
    archive.add_argument("--unarchive", dest="archived", action="store_false")
    edit.add_argument("--json", action="store_true", help="print the session as JSON")
    push = sessions_commands.add_parser(
        "push", help="push a session to a Hub dataset repo (one commit, only what changed)"
    )
    push.add_argument("name", help="the session's slug")
    push.add_argument("--repo", required=True, help="the dataset repo, ORG/NAME")
    push.add_argument("--public", action="store_true", help="create the repo public, not private")
    push.add_argument(
        "--replace", action="store_true", help="overwrite a different session of the same name"
    )
    push.add_argument("--json", action="store_true")
    pull = sessions_commands.add_parser(
        "pull", help="pull a session from a Hub dataset repo; everything is checked first"
    )
    pull.add_argument("--repo", required=True, help="the dataset repo, ORG/NAME")
    pull.add_argument("--session", required=True, help="the session's slug in the repo")
    pull.add_argument("--as", dest="as_slug", metavar="NEW", help="import it under this slug")
    pull.add_argument(
        "--settings-only", action="store_true", help="runs and specs only, no output files"
    )
    pull.add_argument(
        "--rename-if-exists",
        action="store_true",
        help="if the name is taken here, import as NAME-2 (default: refuse)",
    )
    pull.add_argument("--json", action="store_true")
    remote = sessions_commands.add_parser(
        "remote", help="list the sessions a Hub dataset repo holds, with sizes"
    )
    remote.add_argument("--repo", required=True, help="the dataset repo, ORG/NAME")
    remote.add_argument("--json", action="store_true")
