"""Content digests of output and input files.

Files are read in chunks so a large video is never held in memory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

__all__ = ["digest"]

_CHUNK = 1 << 20


def digest(path: Path) -> tuple[str, int]:
    """``(sha256 hex, size in bytes)`` of a file, or of a folder of frames.

    For a file: the sha256 of its bytes, and its size.

    For a folder (``kind == "png"`` outputs are a folder of numbered frames): the regular files
    directly inside it, sorted by name, are hashed in one stream as, for each file,
    ``name (UTF-8) + b"\\0" + its bytes + b"\\0"``; the size is the sum of the files' sizes.
    Names are part of the hash so that renaming or reordering frames changes it. Sub-folders
    and dotfiles (e.g. a half-written ``.frame.png.tmp``) are ignored.

    Raises ``FileNotFoundError`` if ``path`` does not exist.
    """
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        total = 0
        members = sorted(
            (p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")),
            key=lambda p: p.name,
        )
        for member in members:
            h.update(member.name.encode("utf-8") + b"\0")
            total += _feed(h, member)
            h.update(b"\0")
        return h.hexdigest(), total
    size = _feed(h, path)  # raises FileNotFoundError for a missing path
    return h.hexdigest(), size


def _feed(h: Any, path: Path) -> int:
    """Stream ``path`` into the hash object ``h``; return the number of bytes read."""
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return size
