"""The command line: ``python -m studio ...``.

Every user error ends as one line on stderr and a non-zero exit (2 for bad input, 130 when
cancelled with Ctrl-C); ``--json`` puts exactly one JSON object on stdout. A closed stdout
(``... | head -1``) ends a command silently with 141, like a program killed by SIGPIPE.

The package, one job a module: ``parser`` (the command tree), ``flags`` (render flags and the
spec they describe), ``rendering`` (animate, blend, runs resume), ``history`` (runs list and
show), ``sessions``, ``tools`` (models, audio-keyframes), ``prompts``
(prompts suggest) and ``progress`` (the progress bar).
Renders go through ``studio.app.runs``, like the dashboard's and the Python API's.
"""

from __future__ import annotations

import argparse
import os
import select
import sys

from studio.app.cli.flags import blend_spec_from_args, spec_from_args
from studio.app.cli.parser import build_parser
from studio.errors import RenderCancelled, SpecError, StudioError

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_CANCELLED",
    "EXIT_INTERNAL_ERROR",
    "EXIT_USER_ERROR",
    "blend_spec_from_args",
    "build_parser",
    "main",
    "spec_from_args",
]

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 3
EXIT_CANCELLED = 130
# 128 + SIGPIPE: what a shell reports for a writer whose reader went away.
EXIT_BROKEN_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status (see the module docstring).

    A reader of stdout that goes away (``... | head -1``) ends the command quietly with
    ``EXIT_BROKEN_PIPE``, as the shell reports a writer killed by SIGPIPE.
    """
    try:
        status = _run_command(argv)
        # Output still in the buffer would meet a departed reader at interpreter exit, where
        # Python can only print a traceback; flushing here brings that case into reach.
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        if not _stdout_reader_gone():
            raise
        # Python flushes stdout again at exit; pointed at devnull, that flush is silent.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


def _stdout_reader_gone() -> bool:
    """Whether stdout is a pipe whose reading end was closed.

    A ``BrokenPipeError`` may also come from another pipe (ffmpeg's stdin, say); only this one
    is the user's ``| head``, so only this one ends the command quietly. ``poll`` reports
    POLLERR on the writing end of a pipe that has no reader.
    """
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no real stdout
        return False


def _run_command(argv: list[str] | None) -> int:
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        return _dispatch(build_parser().parse_args(argv))
    except RenderCancelled as exc:
        print(f"cancelled: {exc}", file=sys.stderr)
        return EXIT_CANCELLED
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:
        if isinstance(exc, BrokenPipeError) and _stdout_reader_gone():
            raise  # main ends the command quietly
        if _is_store_error(exc):
            print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
            return EXIT_USER_ERROR
        if debug:
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc} (run again with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR


def _dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command; each command's module is imported only when it runs."""
    command = args.command
    if command == "animate":
        from studio.app.cli.rendering import animate

        return animate(args)
    if command == "blend":
        from studio.app.cli.rendering import blend

        return blend(args)
    if command == "runs" and args.runs_command == "resume":
        from studio.app.cli.rendering import resume

        return resume(args)
    if command == "runs" and args.runs_command == "rerun":
        from studio.app.cli.rendering import rerun

        return rerun(args)
    if command == "runs":
        from studio.app.cli.history import runs

        return runs(args)
    if command == "sessions":
        from studio.app.cli.sessions import sessions

        return sessions(args)
    if command == "models":
        from studio.app.cli.tools import models

        return models()
    if command == "audio-keyframes":
        from studio.app.cli.tools import audio_keyframes

        return audio_keyframes(args)
    if command == "prompts":
        from studio.app.cli.prompts import prompts

        return prompts(args)
    raise SpecError(f"unknown command {command!r}")


def _is_store_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a ``db.errors.StoreError`` (a user error, like ``StudioError``).

    Looked up in ``sys.modules`` so that commands that never open the store do not import it:
    if ``db.errors`` was never imported, nothing could have raised one of its errors.
    """
    errors = sys.modules.get("db.errors")
    return errors is not None and isinstance(exc, errors.StoreError)
