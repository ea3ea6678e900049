"""What a pull does with the files it downloaded to ``STUDIO_HOME/.staging``: check each one
against the manifest, then insert the rows and move the folders in place, all or nothing.

A session that exists locally is never overwritten or merged into: ``free_slug`` refuses, or
picks ``<slug>-N``. A run id already used here keeps its time and gets a new random part.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path, PurePosixPath

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.errors import HubSyncError
from db.files import FolderMoves, digest, write_moves
from db.manifest import MANIFEST_NAME, Manifest, refusal
from db.models import (
    ACTIVE_STATUSES,
    INTERRUPTED,
    ExperimentSession,
    InputMedia,
    Output,
    Run,
    utcnow,
)
from db.paths import session_folders
from db.repository import SLUG_MAX_LENGTH, normalize_tags
from db.store import Store

__all__ = ["free_slug", "import_session", "verify_and_arrange"]


def verify_and_arrange(manifest: Manifest, downloaded: Path, session_dir: Path, slug: str) -> None:
    """Check each downloaded file (a regular file, its size and sha256) and move it to
    ``session_dir/<path>``; then check every output folder's digest."""
    source = f"{slug}/{MANIFEST_NAME}"
    root = downloaded.resolve()
    for entry in manifest.files:
        path = downloaded.joinpath(*PurePosixPath(entry.path).parts)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            raise refusal(source, f"{entry.path} was not downloaded") from None
        if not stat.S_ISREG(info.st_mode) or not path.resolve().is_relative_to(root):
            raise refusal(source, f"{entry.path} is not a regular file inside the session folder")
        sha256, size = digest(path)
        if size != entry.bytes:
            raise refusal(source, f"{entry.path} is {size} bytes, the manifest says {entry.bytes}")
        if sha256 != entry.sha256:
            raise refusal(
                source,
                f"{entry.path} has sha256 {sha256}, the manifest says {entry.sha256} "
                "(the file or the manifest was changed)",
            )
        target = session_dir.joinpath(*PurePosixPath(entry.path).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(path, target)
    for run in manifest.runs:
        for output in run.outputs:
            path = session_dir.joinpath(*PurePosixPath(output.path).parts)
            if not path.exists():  # an empty folder of frames: nothing was listed to download
                path.mkdir(parents=True)
            if digest(path) != (output.sha256, output.bytes):
                raise refusal(
                    source,
                    f"output {output.path} of run {run.id} does not match its sha256",
                )


def import_session(
    store: Store,
    manifest: Manifest,
    wanted: str,
    on_conflict: str,
    repo_id: str,
    session_dir: Path,
    with_outputs: bool,
) -> tuple[str, dict[str, str]]:
    """Insert the rows and move the checked files in place, all or nothing."""
    moves = FolderMoves()
    try:
        with store.begin() as s:
            slug = free_slug(s, store.home, wanted, on_conflict)
            run_ids = _new_run_ids(s, [run.id for run in manifest.runs])
            fields = manifest.session
            session = ExperimentSession(
                slug=slug,
                title=fields.title,
                notes=fields.notes,
                tags=normalize_tags(fields.tags),
                archived=fields.archived,
                created_at=fields.created_at,
                hub_repo=repo_id,
                last_sync_at=utcnow(),
            )
            s.add(session)
            for entry in manifest.runs:
                run_id = run_ids[entry.id]
                status, error = entry.status, entry.error
                if status in ACTIVE_STATUSES:
                    status, error = INTERRUPTED, f"was {status} when pushed to the Hub"
                run = Run(
                    id=run_id,
                    session=session,
                    **entry.model_dump(include=_RUN_COPIED),
                    status=status,
                    error=error,
                    pid=None,
                    hostname=None,
                )
                s.add(run)
                if not with_outputs:
                    continue
                for output in entry.outputs:
                    rest = output.path.split("/", 2)[2]  # outputs/<old run id>/<rest>
                    s.add(
                        Output(
                            run=run,
                            path=f"outputs/{slug}/{run_id}/{rest}",
                            **output.model_dump(include=_OUTPUT_COPIED),
                        )
                    )
            if with_outputs:
                for media in manifest.inputs:
                    rest = media.path.split("/", 1)[1]
                    s.add(
                        InputMedia(
                            session=session,
                            path=f"inputs/{slug}/{rest}",
                            **media.model_dump(include={"kind", "sha256", "bytes", "meta"}),
                            created_at=media.created_at,
                        )
                    )
            s.flush()
            if with_outputs:
                staged_outputs = session_dir / "outputs"
                for old, new in run_ids.items():
                    if old != new and (staged_outputs / old).exists():
                        os.rename(staged_outputs / old, staged_outputs / new)
                outputs_dir, inputs_dir = session_folders(store.home, slug)
                # What a recovery must undo if this process dies before the commit.
                write_moves(session_dir.parent, slug, [outputs_dir, inputs_dir])
                if staged_outputs.exists():
                    moves.move(staged_outputs, outputs_dir)
                if (session_dir / "inputs").exists():
                    moves.move(session_dir / "inputs", inputs_dir)
    except BaseException:
        moves.undo()
        raise
    return slug, run_ids


_RUN_COPIED = {
    "kind",
    "spec",
    "schema_version",
    "model_ref",
    "seed",
    "error_type",
    "frames_done",
    "frames_total",
    "predicted_denoise_steps",
    "denoise_steps",
    "timings",
    "versions",
    "plan",
    "extra",
    "device",
    "created_at",
    "started_at",
    "finished_at",
}
_OUTPUT_COPIED = {
    "kind",
    "sha256",
    "bytes",
    "width",
    "height",
    "frames",
    "fps",
    "has_audio",
    "created_at",
}


def free_slug(s: Session, home: Path, wanted: str, on_conflict: str) -> str:
    """``wanted`` if no session and no folder has it; else refuse, or the first free
    ``wanted-N``."""
    if _slug_free(s, home, wanted):
        return wanted
    if on_conflict == "error":
        raise HubSyncError(
            f"a session named {wanted!r} already exists here; it is not overwritten. Pull it "
            "under another name (as_slug / --as NEW) or let the studio pick one "
            "(on_conflict='rename' / --rename-if-exists)"
        )
    for n in range(2, 10_000):
        suffix = f"-{n}"
        candidate = wanted[: SLUG_MAX_LENGTH - len(suffix)].rstrip("-") + suffix
        if _slug_free(s, home, candidate):
            return candidate
    raise HubSyncError(f"no free name like {wanted!r}-N; pull with as_slug")


def _slug_free(s: Session, home: Path, slug: str) -> bool:
    if s.scalar(select(ExperimentSession.id).where(ExperimentSession.slug == slug)) is not None:
        return False
    return not any(f.exists() or f.is_symlink() for f in session_folders(home, slug))


def _new_run_ids(s: Session, ids: list[str]) -> dict[str, str]:
    """Keep each run id unless it is used here already; then keep its time, new random part."""
    taken = set(s.scalars(select(Run.id).where(Run.id.in_(ids))))
    used = set(ids) | taken
    result = {}
    for run_id in ids:
        new = run_id
        while new in taken or (new != run_id and new in used):
            new = f"{run_id[:15]}-{secrets.token_hex(3)}"
        used.add(new)
        result[run_id] = new
    return result
