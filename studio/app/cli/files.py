"""What render flags point at: a text file (``--spec``, ``--prompts-file``) and the output
format an ``--out`` path implies."""

from __future__ import annotations

import argparse
import stat
from pathlib import Path

from studio.app.delivery import out_format
from studio.errors import SpecError

__all__ = ["format_from_args", "read_text"]


def format_from_args(args: argparse.Namespace) -> str | None:
    """``--format``, or the one ``--out`` implies (``out_format``); they must agree when both
    are given."""
    fmt = args.format
    if args.out is not None:
        from_suffix = out_format(args.out)
        if fmt is None:
            fmt = from_suffix
        elif fmt != from_suffix:
            raise SpecError(
                f"--format {fmt} does not match --out {args.out} (looks like {from_suffix})"
            )
    return fmt


MAX_TEXT_BYTES = 8 * 1024 * 1024  # a spec or schedule file larger than this is not one


def read_text(path: Path, what: str, keep_line_endings: bool = False) -> str:
    """The text of ``path`` (UTF-8); ``SpecError`` naming the ``what`` file if it cannot be
    read, is not a regular file (a FIFO or a device would block or never end) or is over
    ``MAX_TEXT_BYTES``. ``keep_line_endings``: ``\r\n`` stays as written (for a file that
    is edited and written back), instead of reading as ``\n``."""
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(f"{what} file {path} is not a regular file")
        if info.st_size > MAX_TEXT_BYTES:
            raise SpecError(
                f"{what} file {path} is {info.st_size:,} bytes; a {what} file is at most "
                f"{MAX_TEXT_BYTES:,}"
            )
        with open(path, encoding="utf-8", newline="" if keep_line_endings else None) as file:
            return file.read()
    except FileNotFoundError:
        raise SpecError(f"{what} file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read {what} file {path}: {exc}") from None
