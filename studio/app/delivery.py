"""Putting a run's result where the user asked (the CLI's ``--out``, the API's ``out=``).

The run always keeps its own copy in ``STUDIO_HOME``; the destination gets a hard link where
the file system allows (no second copy on disk), else a copy, written under a temporary name
and renamed so that a reader never sees half a file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from studio.errors import SpecError

__all__ = ["checked_out", "deliver", "out_format"]


def out_format(out: Path) -> str:
    """The output format an ``--out`` path asks for: ``NAME.mp4`` or ``NAME.gif`` (any case)
    a file of that format; a path without an extension, or an existing folder, a folder of
    PNG frames.

    Raises ``SpecError`` naming the path and what is supported for any other extension (a
    ``.avi`` would otherwise become a folder of PNGs; a ``.png`` is one picture, not frames).
    """
    from studio.media.writers import FORMATS

    files = {f".{fmt}": fmt for fmt in FORMATS if fmt != "png"}
    suffix = out.suffix.lower()
    if suffix in files:
        return files[suffix]
    if not suffix or out.is_dir():
        return "png"
    raise SpecError(
        f"--out {out}: cannot write {suffix} files; give a file name ending in "
        f"{' or '.join(files)}, or a folder without an extension for PNG frames"
    )


def checked_out(out: Path, fmt: str) -> Path:
    """``out`` made absolute, once it is a place a ``fmt`` result can be put (``SpecError``
    naming the problem if not)."""
    out = out.expanduser().absolute()
    if out.is_symlink():
        raise SpecError(f"--out {out} is a symbolic link; give the file's own path")
    if out_format(out) != fmt:
        raise SpecError(f"--out {out} does not fit {fmt} output (it looks like {out_format(out)})")
    if fmt == "png":
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise SpecError(f"--out {out} must be a new or empty folder for PNG frames")
    elif out.is_dir():
        raise SpecError(f"--out {out} is a folder; give a file name ending in .{fmt}")
    if not out.parent.exists():
        raise SpecError(f"--out {out}: folder {out.parent} does not exist")
    try:  # checked before a render, not after it: a probe file, as the result will be
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=".studio-probe-"):
            pass
    except OSError as exc:
        raise SpecError(f"--out {out}: cannot write in {out.parent} ({exc.strerror})") from None
    return out


def deliver(source: Path, out: Path) -> Path:
    """Put the run's file at ``out``: a hard link where possible, else a copy. A folder of
    PNG frames is copied frame by frame into ``out``."""
    if source.is_dir():
        out.mkdir(exist_ok=True)
        for frame in sorted(source.iterdir()):
            shutil.copy2(frame, out / frame.name)
        return out
    tmp = out.with_name(f".{out.name}.part")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copy2(source, tmp)
    os.replace(tmp, out)
    return out
