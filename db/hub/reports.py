"""What a push, a pull and a remote listing report: one line for a person, a dict for JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from db.files import human_bytes

__all__ = ["PullReport", "PushReport", "RemoteSession"]


@dataclass
class PushReport:
    """What a push did. Paths are relative to the session folder in the repo.

    ``commit`` is ``None`` when the repo already held exactly this session (nothing changed).
    ``created_repo`` says the push created the repo, ``private`` whether it created it private.
    """

    repo_id: str
    slug: str
    commit: str | None
    created_repo: bool
    private: bool | None = None
    uploaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    uploaded_bytes: int = 0
    manifest_changed: bool = False

    def summary(self) -> str:
        """One line for a person."""
        if self.commit is None:
            return (
                f"session {self.slug!r} is already up to date in {self.repo_id}: nothing uploaded "
                f"({len(self.skipped)} files unchanged)"
            )
        created = ""
        if self.created_repo:
            created = f" (new {'private' if self.private else 'public'} repo)"
        return (
            f"pushed session {self.slug!r} to {self.repo_id}{created} in commit {self.commit[:8]}: "
            f"{len(self.uploaded)} files uploaded ({human_bytes(self.uploaded_bytes)}), "
            f"{len(self.skipped)} unchanged, {len(self.deleted)} deleted"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "slug": self.slug,
            "commit": self.commit,
            "created_repo": self.created_repo,
            "private": self.private,
            "uploaded": self.uploaded,
            "skipped": self.skipped,
            "deleted": self.deleted,
            "uploaded_bytes": self.uploaded_bytes,
            "manifest_changed": self.manifest_changed,
        }


@dataclass(frozen=True)
class RemoteSession:
    """A session a repo holds, as its manifest describes it.

    ``problem`` is set (and the counts may be zero) when the manifest is a Latent Studio one
    that this version cannot pull, e.g. one from a newer schema version.
    """

    slug: str
    title: str
    runs: int
    files: int
    bytes: int
    created_at: str | None
    schema_version: int | None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "title": self.title,
            "runs": self.runs,
            "files": self.files,
            "bytes": self.bytes,
            "created_at": self.created_at,
            "schema_version": self.schema_version,
            "problem": self.problem,
        }


@dataclass
class PullReport:
    """What a pull did.

    ``slug`` is the local name, ``source_slug`` the name in the repo; ``renamed`` says the
    local name was chosen because the wanted one was taken. ``run_ids`` maps a run id from the
    repo to the new id it got here, for the (rare) runs whose id was already in use locally.
    """

    repo_id: str
    revision: str
    source_slug: str
    slug: str
    renamed: bool
    with_outputs: bool
    runs: int
    outputs: int
    files: int
    bytes: int
    run_ids: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for a person."""
        name = repr(self.slug)
        if self.slug != self.source_slug:
            why = " (that name was taken here)" if self.renamed else ""
            name = f"{self.source_slug!r} as {self.slug!r}{why}"
        what = (
            f"{self.runs} runs, {self.outputs} outputs, {self.files} files "
            f"({human_bytes(self.bytes)})"
            if self.with_outputs
            else f"{self.runs} runs, settings only (no output files)"
        )
        return f"pulled session {name} from {self.repo_id}@{self.revision[:8]}: {what}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "source_slug": self.source_slug,
            "slug": self.slug,
            "renamed": self.renamed,
            "with_outputs": self.with_outputs,
            "runs": self.runs,
            "outputs": self.outputs,
            "files": self.files,
            "bytes": self.bytes,
            "run_ids": self.run_ids,
        }
