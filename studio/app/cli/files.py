"""What render flags point at: a text file (``--spec``, ``--prompts-file``) and the output
format an ``--out`` path implies."""

from __future__ import annotations

import argparse
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


def read_text(path: Path, what: str) -> str:
    """The text of ``path`` (UTF-8); ``SpecError`` naming the ``what`` file if it cannot be
    read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{what} file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read {what} file {path}: {exc}") from None
