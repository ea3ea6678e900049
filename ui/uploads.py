"""Files uploaded in the dashboard become input media of the current session.

An upload is stored under ``STUDIO_HOME/inputs/<session>/`` and recorded in the store
(``db.repository.add_input_media``); specs refer to it by its path relative to
``STUDIO_HOME``, so the session can move or travel through the Hub with its inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from db.paths import relative_to_home, session_folders
from db.repository import add_input_media, get_or_create_session
from studio.errors import StudioError
from ui.resources import get_store

__all__ = ["save_upload"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def save_upload(
    upload: Any,
    session_slug: str,
    kind: str,
    *,
    check: Callable[[Path], Any] | None = None,
    meta: dict[str, Any] | None = None,
) -> str:
    """Store an ``st.file_uploader`` file in ``session_slug``'s inputs and record it.

    The file is named ``<first 8 hex of its sha256>-<its own name, made safe>``, so the same
    file uploaded twice is kept and recorded once, and two different files with one name do
    not collide. It is written under a hidden temporary name (with the same suffix), given
    to ``check`` (which raises, e.g. ``MediaError``, for a file that cannot be used) and only
    then renamed into place and recorded: a rejected upload leaves nothing behind.

    Returns the stored path relative to ``STUDIO_HOME`` (what a spec holds). Raises what
    ``check`` raises, its message naming the file by ``upload.name`` (the name the user
    chose), not by the internal name it was checked under.
    """
    data = upload.getvalue()
    sha256 = hashlib.sha256(data).hexdigest()
    store = get_store()
    _, folder = session_folders(store.home, session_slug)
    stem = _UNSAFE.sub("_", Path(upload.name).name).lstrip("._")[-80:] or "upload"
    target = folder / f"{sha256[:8]}-{stem}"
    relative = relative_to_home(store.home, target)
    if not target.exists():
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".part-{secrets.token_hex(4)}-{target.name}"
        try:
            tmp.write_bytes(data)
            if check is not None:
                _check_as_uploaded(check, tmp, upload.name)
            os.replace(tmp, target)
        except BaseException:
            if created:  # a folder made for this file alone goes with it
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
                    folder.rmdir()
            raise
        finally:
            tmp.unlink(missing_ok=True)
    elif check is not None:
        _check_as_uploaded(check, target, upload.name)
    with store.begin() as s:
        session = get_or_create_session(s, session_slug)
        if not any(m.path == relative for m in session.inputs):
            add_input_media(
                s,
                session,
                kind=kind,
                path=relative,
                sha256=sha256,
                bytes=len(data),
                meta={"name": upload.name, **(meta or {})},
            )
    return relative


def _check_as_uploaded(check: Callable[[Path], Any], path: Path, name: str) -> None:
    """``check(path)``; its ``StudioError`` is raised again naming ``name`` for ``path``.

    The checkers name the file they read: here a temporary or stored name under
    ``STUDIO_HOME`` that the user never saw and would not recognise.
    """
    try:
        check(path)
    except StudioError as exc:
        exc.args = (str(exc).replace(str(path), name),)
        raise
