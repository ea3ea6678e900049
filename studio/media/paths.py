"""Where the engine finds a spec's media files: the one ``STUDIO_HOME`` rule of the engine.

``STUDIO_HOME`` (environment variable) is the data folder; when it is unset or empty the
default is ``DEFAULT_HOME``, ``~/.latent-studio``. The store (``db.paths``) keeps its own copy
of that default because the store never imports the engine; both say the same thing, and
``tests/engine/test_media.py`` checks that they do.

A spec holds media paths as the user gave them: absolute, relative to the working folder,
or relative to ``STUDIO_HOME`` (dashboard uploads are stored under
``STUDIO_HOME/inputs/<session>/`` and named relative to it). ``resolve_media_path`` turns any
of them into the file meant; it never creates anything and the file may not exist (loaders
say so, naming it).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_HOME", "resolve_media_path", "studio_home"]

DEFAULT_HOME = "~/.latent-studio"


def studio_home() -> Path:
    """``$STUDIO_HOME`` if set and non-empty, else ``DEFAULT_HOME``, with ``~`` expanded.

    Not created and not resolved: the engine only looks files up in it.
    """
    return Path(os.environ.get("STUDIO_HOME") or DEFAULT_HOME).expanduser()


def resolve_media_path(path: str | Path) -> Path:
    """The file a spec's media ``path`` refers to.

    Absolute paths are used as they are. A relative path is looked up in the working
    directory first and, if no file is there, under ``studio_home()``, where dashboard
    uploads are kept (``inputs/<session>/<name>``). When it is in neither place the path is
    returned as given (relative), so the loader's message names what the user wrote.
    """
    given = Path(path).expanduser()
    if given.is_absolute() or given.exists():
        return given
    in_home = studio_home() / given
    return in_home if in_home.exists() else given
