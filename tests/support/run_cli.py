"""Run the command line as a user does: ``python -m studio`` in a subprocess, with its own
STUDIO_HOME. Shared by the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The built-in random tiny model at 64 x 64: what a CLI test renders with when the pictures
# do not matter (add "--steps" and the rest).
TINY_64 = ["--model", "builtin:tiny", "--width", "64", "--height", "64"]


def studio(
    home: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    _share_model_cache(Path(home))
    full_env = {**os.environ, "STUDIO_HOME": str(home), "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "studio", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=300,
    )


def _share_model_cache(home: Path) -> None:
    """Link a new home's model cache to the test session's (``STUDIO_TEST_MODEL_CACHE``, set
    by tests/conftest.py), so each command does not build builtin:tiny again."""
    shared = os.environ.get("STUDIO_TEST_MODEL_CACHE")
    models = home / "cache" / "models"
    if shared and not models.exists() and not models.is_symlink():
        try:
            models.parent.mkdir(parents=True, exist_ok=True)
            models.symlink_to(shared, target_is_directory=True)
        except OSError:  # a read-only home (a test of one): the command builds its own
            pass


def studio_in_process(home: Path, *args: str) -> subprocess.CompletedProcess:
    """``studio`` run in this process (``studio.app.cli.main``), for fixtures wider than one
    test (the ``cli`` fixture is per test): ``STUDIO_HOME`` and the output streams are set
    for the call and restored after it."""
    import contextlib
    import io

    from studio.app.cli import main

    _share_model_cache(Path(home))
    out, err = io.StringIO(), io.StringIO()
    before = os.environ.get("STUDIO_HOME")
    os.environ["STUDIO_HOME"] = str(home)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main([str(a) for a in args])
    finally:
        if before is None:
            os.environ.pop("STUDIO_HOME", None)
        else:
            os.environ["STUDIO_HOME"] = before
    return subprocess.CompletedProcess(["studio", *args], status, out.getvalue(), err.getvalue())
