"""A render killed between recording its file and being marked finished: the resume keeps the
file instead of rendering it again, and the run still has one output row (issue 26)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import studio
from db import RunTaken, Store, get_run, list_runs, run_to_dict
from db.models import INTERRUPTED
from db.recorder import RunRecorder
from studio.spec import AnimationSettings, AnimationSpec, DiffusionSettings, PromptSettings

ROOT = Path(__file__).resolve().parents[2]
SPEC = AnimationSpec(
    prompts=PromptSettings(schedule="0: a red circle\n3: a blue square"),
    diffusion=DiffusionSettings(model="builtin:tiny", steps=2, width=64, height=64, seed=5),
    animation=AnimationSettings(fps=8, batch_size=2),
)

# Killed inside the output event: the recorder (first in the fan-out) has written the row.
KILL_AFTER_OUTPUT = """
import os, signal, sys
import studio
from studio.events import NullEvents
from studio.spec import load_spec

class Killer(NullEvents):
    def output(self, output):
        os.kill(os.getpid(), signal.SIGKILL)

studio.render(load_spec(open(sys.argv[1]).read()), session="killed", events=Killer())
"""


@pytest.fixture(scope="module")
def killed_home(tmp_path_factory, model_cache) -> tuple[Path, str]:
    """A STUDIO_HOME with one run killed after its output row: made once, copied per test."""
    tmp_path = tmp_path_factory.mktemp("killed")
    home = tmp_path / "home"
    (home / "cache").mkdir(parents=True)
    (home / "cache" / "models").symlink_to(model_cache)
    return home, _killed_after_output(home, tmp_path)


@pytest.fixture
def killed(killed_home, tmp_path) -> tuple[Path, str]:
    """A fresh copy of ``killed_home``: ``(home, run_id)``."""
    home, run_id = killed_home
    copy = tmp_path / "home"
    shutil.copytree(home, copy, symlinks=True)
    return copy, run_id


def _killed_after_output(home: Path, tmp_path: Path) -> str:
    (tmp_path / "spec.json").write_text(SPEC.to_json())
    (tmp_path / "killer.py").write_text(KILL_AFTER_OUTPUT)
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "killer.py"), str(tmp_path / "spec.json")],
        env={**os.environ, "STUDIO_HOME": str(home), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    with Store.open(home).session() as s:
        (run,) = list_runs(s)
        assert run.status == INTERRUPTED
        return run.id


def test_a_run_killed_after_its_output_row_is_finished_from_its_file(killed):
    studio_home, run_id = killed
    with Store.open(studio_home).session() as s:
        (recorded,) = run_to_dict(get_run(s, run_id))["outputs"]
    video = studio_home / recorded["path"]
    before = (video.read_bytes(), video.stat().st_mtime_ns)

    _, result = studio.resume(run_id, home=studio_home)

    assert result.resume["reused_output"] is True
    assert result.resume["denoise_steps_this_attempt"] == 0
    assert (video.read_bytes(), video.stat().st_mtime_ns) == before  # not rendered again
    with Store.open(studio_home).session() as s:
        run = run_to_dict(get_run(s, run_id))
    assert run["status"] == "done"
    assert [o["path"] for o in run["outputs"]] == [recorded["path"]]  # one row, not two
    assert run["frames_done"] == 4
    # The score recorded with the file (issue 29, item 6) is kept with it.
    assert result.extra["smoothness"] == run["extra"]["smoothness"]
    assert run["extra"]["smoothness"]["frames"] == 4


def test_a_changed_file_is_rendered_again_not_kept(killed):
    studio_home, run_id = killed
    with Store.open(studio_home).session() as s:
        (recorded,) = run_to_dict(get_run(s, run_id))["outputs"]
        kept = get_run(s, run_id).extra["smoothness"]  # recorded with the output row
    video = studio_home / recorded["path"]
    video.write_bytes(b"not the video any more")

    _, result = studio.resume(run_id, home=studio_home)

    assert not (result.resume or {}).get("reused_output")
    assert result.denoise_steps > 0
    assert result.extra["smoothness"] == kept  # the same frames, the same score
    with Store.open(studio_home).session() as s:
        run = run_to_dict(get_run(s, run_id))
    assert run["status"] == "done" and len(run["outputs"]) == 1
    assert run["outputs"][0]["sha256"] != "0" * 64
    assert video.read_bytes() != b"not the video any more"


def test_two_takeovers_of_one_run_only_one_wins(killed):
    studio_home, run_id = killed
    store = Store.open(studio_home)
    first = RunRecorder.attach(store, run_id, expect=INTERRUPTED)
    with pytest.raises(RunTaken, match=run_id):
        RunRecorder.attach(store, run_id, expect=INTERRUPTED)
    assert first.run_id == run_id
