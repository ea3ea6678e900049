"""Resuming a killed render: the same video as an uninterrupted render, honest step counts.

A render runs in a subprocess that SIGKILLs itself once a given number of frames are
written (a kill at a known point, so the test cannot race the render); the run is then
resumed through the CLI or the Python API and compared with an uninterrupted render of the
same spec on the real engine (builtin:tiny).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import studio
from db import Store, get_run, list_runs, run_to_dict
from studio import resume
from studio.animation.render import render_animation
from studio.errors import RenderCancelled, SpecError
from studio.events import CancelToken, NullEvents
from studio.media.readers import read_frames
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    BlendAudioSettings,
    BlendKeyframe,
    BlendOutputSettings,
    BlendPromptSettings,
    BlendSettings,
    BlendSpec,
    DiffusionSettings,
    OutputSettings,
    PromptSettings,
)
from tests.support.dashboard import APP, TIMEOUT
from tests.support.interpolator import save_random_interpolator
from tests.support.media import click_track

ROOT = Path(__file__).resolve().parents[2]
# Every value the model could bring is set: the killed process reads the spec from JSON,
# which leaves nothing to the model, and the reference render must draw the same frames.
DIFFUSION = DiffusionSettings(
    model="builtin:tiny", steps=3, guidance=3.0, guidance_stop=0.2, width=64, height=64, seed=3
)
ANIMATION = AnimationSpec(
    prompts=PromptSettings(schedule="0: a red circle\n9: a blue square"),
    diffusion=DIFFUSION,
    animation=AnimationSettings(fps=8, batch_size=2),
)
BLEND = BlendSpec(
    prompts=BlendPromptSettings(
        keyframes=tuple(BlendKeyframe(p) for p in ("a red circle", "a blue square", "a star"))
    ),
    diffusion=DIFFUSION,
    # Crossfeed keeps every step of a trajectory: the biggest state a checkpoint carries.
    blend=BlendSettings(setup="auto", diffusion_frames=3, crossfeed_power=0.3),
    output=BlendOutputSettings(fps=8, duration=1.0),
)

KILLER = """
import os, signal, sys
from pathlib import Path
import studio
from studio.events import NullEvents
from studio.spec import load_spec

class Killer(NullEvents):
    def progress(self, done, total, preview=None):
        if done >= int(sys.argv[2]):
            os.kill(os.getpid(), signal.SIGKILL)

out = Path(sys.argv[3]) if len(sys.argv) > 3 else None  # what the CLI's --out passes
studio.render(load_spec(open(sys.argv[1]).read()), session="killed", events=Killer(), out=out)
"""


def render_and_kill(home: Path, tmp_path: Path, spec, after: int, out: Path | None = None) -> str:
    """Render ``spec`` (to be put at ``out`` too, if given) in a subprocess that is SIGKILLed
    once ``after`` frames are written; returns the run id (marked ``interrupted`` when the
    store is next opened)."""
    (tmp_path / "spec.json").write_text(spec.to_json())
    (tmp_path / "killer.py").write_text(KILLER)
    env = {**os.environ, "STUDIO_HOME": str(home), "PYTHONPATH": str(ROOT)}
    extra = [] if out is None else [str(out)]
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "killer.py"), str(tmp_path / "spec.json"), str(after)]
        + extra,
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    with Store.open(home).session() as s:
        (run,) = list_runs(s)
        assert run.status == "interrupted"
        return run.id


def run_dict(home: Path, run_id: str) -> dict:
    with Store.open(home).session() as s:
        return run_to_dict(get_run(s, run_id))


def run_folder(home: Path, run_id: str) -> Path:
    return home / "outputs" / "killed" / run_id


def assert_same_video(resumed: Path, reference: Path) -> None:
    a, b = list(read_frames(resumed)), list(read_frames(reference))
    assert len(a) == len(b)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert resumed.read_bytes() == reference.read_bytes()


@pytest.mark.slow  # whole renders through CLI subprocesses (6-12 s)
def test_a_killed_animation_resumes_from_the_cli_with_the_same_video(
    studio_home, tmp_path, manager
):
    out = tmp_path / "videos" / "walk.mp4"  # the --out it was started with
    out.parent.mkdir()
    run_id = render_and_kill(studio_home, tmp_path, ANIMATION, after=4, out=out)
    folder = run_folder(studio_home, run_id)
    state = json.loads((folder / ".animation.checkpoint" / "state.json").read_text())
    assert state["frames"] == 4 and state["denoise_steps"] == 4 * 3
    assert not out.exists()  # killed before the end: nothing delivered yet
    assert run_dict(studio_home, run_id)["deliver_to"] == str(out)

    env = {**os.environ, "STUDIO_HOME": str(studio_home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "studio", "runs", "resume", run_id, "--json", "--quiet"],
        env=env,
        cwd=ROOT,  # not where the first attempt ran
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["run_id"] == run_id and payload["frames"] == 10
    # Delivered to the first attempt's --out, as well as kept in the store.
    stored = studio_home / run_dict(studio_home, run_id)["outputs"][0]["path"]
    assert payload["outputs"] == [str(out)] and payload["stored_outputs"] == [str(stored)]
    assert out.read_bytes() == stored.read_bytes()
    # A path on this machine stays here: a pushed session does not carry it.
    from db.hub import build_manifest

    (entry,) = build_manifest(Store.open(studio_home), "killed").manifest["runs"]
    assert "deliver_to" not in entry and entry["id"] == run_id

    _, reference = studio.render(ANIMATION, session="reference", manager=manager)
    assert_same_video(Path(payload["outputs"][0]), reference.outputs[0].path)

    run = run_dict(studio_home, run_id)
    assert run["status"] == "done" and run["error"] is None
    # Every step counted once: 4 frames before the kill, 6 after, 3 steps each.
    assert run["denoise_steps"] == reference.denoise_steps == 10 * 3
    assert run["extra"]["smoothness"] == reference.extra["smoothness"]  # frames 0-3 too
    assert run["extra"]["resume"] == {
        "attempt": 2,
        "from_frame": 4,
        "denoise_steps_before": 12,
        "denoise_steps_this_attempt": 18,
        "seconds_before": run["extra"]["resume"]["seconds_before"],
    }
    assert len(run["outputs"]) == 1
    # Neither the checkpoint nor the killed writer's partial file is left.
    assert sorted(p.name for p in folder.iterdir()) == ["animation.mp4"]


def test_a_killed_blend_resumes_after_its_last_finished_transition(studio_home, tmp_path, manager):
    # Progress moves during a transition too (short of its last frame); it reaches 4, the first
    # transition's video frames, only once that transition is written and checkpointed.
    run_id = render_and_kill(studio_home, tmp_path, BLEND, after=4)
    folder = run_folder(studio_home, run_id)
    state = json.loads((folder / ".blend.checkpoint" / "state.json").read_text())
    assert state["engine"]["transitions"] == 1 and state["frames"] == 4

    resumed_id, result = resume(run_id, manager=manager)
    _, reference = studio.render(BLEND, session="reference", manager=manager)
    assert resumed_id == run_id
    assert_same_video(result.outputs[0].path, reference.outputs[0].path)
    assert result.extra["tree"] == reference.extra["tree"]
    assert result.extra["smoothness"] == reference.extra["smoothness"]
    assert result.denoise_steps == reference.denoise_steps
    facts = result.extra["resume"]
    assert facts["from_frame"] == 4 and facts["denoise_steps_before"] == state["denoise_steps"]
    assert facts["denoise_steps_this_attempt"] == reference.denoise_steps - state["denoise_steps"]

    run = run_dict(studio_home, run_id)
    assert run["status"] == "done" and run["denoise_steps"] == reference.denoise_steps
    assert run["extra"]["tree"]["transitions"] == reference.extra["tree"]["transitions"]
    assert run["extra"]["smoothness"] == reference.extra["smoothness"]
    assert run["extra"]["smoothness"]["frames"] == reference.frames
    assert sorted(p.name for p in folder.iterdir()) == ["blend.mp4"]


@pytest.mark.slow  # two renders, one through a subprocess (10-20 s)
def test_a_killed_blend_with_a_soundtrack_resumes_to_the_same_video(studio_home, tmp_path, manager):
    # Prompts at 0.5, 1.5 and 2.5 s of a 3 s track at 8 fps: the first held 4 frames, the
    # last 3; audio timing and crossfeed read the track's envelope.
    track = click_track(tmp_path / "clicks.wav", {1.0: 0.8, 2.2: 0.8}, 3.0)
    spec = BLEND.replace(
        output=BLEND.output.replace(duration=0.0),
        audio=BlendAudioSettings(
            path=str(track), times=(0.5, 1.5, 2.5), timing=True, crossfeed=0.8
        ),
    )
    # The first transition's 12 frames (4 held + 8) are written and checkpointed.
    run_id = render_and_kill(studio_home, tmp_path, spec, after=12)
    resumed_id, result = resume(run_id, manager=manager)
    _, reference = studio.render(spec, session="reference", manager=manager)
    assert resumed_id == run_id and result.extra["resume"]["from_frame"] == 12
    assert result.frames == reference.frames == 24
    assert result.outputs[0].has_audio and reference.outputs[0].has_audio
    assert_same_video(result.outputs[0].path, reference.outputs[0].path)


def test_only_an_interrupted_run_can_be_resumed(studio_home, manager):
    run_id, _ = studio.render(
        ANIMATION.replace(animation=AnimationSettings(fps=8)), manager=manager
    )
    with pytest.raises(SpecError, match=f"run {run_id} is done; only an interrupted run"):
        resume(run_id, manager=manager)
    with pytest.raises(SpecError, match="no run with id 'nope'"):
        resume("nope", manager=manager)
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "studio", "runs", "resume", run_id],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "only an interrupted run" in proc.stderr


def test_a_render_that_ends_leaves_no_checkpoint(tmp_path, manager):
    spec = ANIMATION.replace(animation=AnimationSettings(fps=8))
    render_animation(spec, tmp_path / "done", manager=manager)
    assert [p.name for p in (tmp_path / "done").iterdir()] == ["animation.mp4"]

    token = CancelToken()

    class CancelAfterTwo(NullEvents):
        def progress(self, done, total, preview=None):
            if done >= 2:
                token.cancel()

    with pytest.raises(RenderCancelled):
        render_animation(
            spec, tmp_path / "cancelled", manager=manager, events=CancelAfterTwo(), cancel=token
        )
    # The frames made stay as a playable file; the checkpoint does not.
    assert [p.name for p in (tmp_path / "cancelled").iterdir()] == ["animation.mp4"]


def test_a_checkpoint_of_another_spec_is_not_taken_up(tmp_path, manager):
    """Resume with no usable checkpoint (here: one of a different spec) starts over."""
    from studio.media.checkpoint import FrameCheckpoint

    spec = ANIMATION.replace(animation=AnimationSettings(fps=8))
    other = FrameCheckpoint.open(tmp_path, "animation", ANIMATION, resume=False)
    other.add_frame(np.zeros((64, 64, 3), np.uint8))
    other.commit(denoise_steps=3)
    result = render_animation(spec, tmp_path, manager=manager, resume=True)
    assert "resume" not in result.extra and result.denoise_steps == 10 * 3
    assert [p.name for p in tmp_path.iterdir()] == ["animation.mp4"]


@pytest.mark.usefixtures("navigation_v2")
def test_history_resumes_an_interrupted_run(studio_home, tmp_path):
    from streamlit.testing.v1 import AppTest

    from ui.resources import get_jobs

    out = tmp_path / "walk.mp4"
    run_id = render_and_kill(studio_home, tmp_path, ANIMATION, after=4, out=out)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.switch_page("pages/history.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="history.run").value == run_id
    assert list(at.dataframe[1].value["status"]) == ["interrupted"]
    at.button(key="history.resume").click().run()
    assert not at.exception, at.exception
    job = get_jobs().get(at.session_state["history.resume_job"])
    assert job.wait(600) and job.status == "done", job.error
    at.run()
    assert any(f"Run {run_id} finished: 10 frames" in s.value for s in at.success)
    run = run_dict(studio_home, run_id)
    assert run["status"] == "done" and run["extra"]["resume"]["from_frame"] == 4
    # Resumed here, it still reaches the --out it was started with on the command line.
    assert out.read_bytes() == (studio_home / run["outputs"][0]["path"]).read_bytes()
    # A finished run offers no resume.
    assert not [b for b in at.button if b.key == "history.resume"]


@pytest.mark.slow  # a render killed in a subprocess, resumed, and rendered again (about 30 s)
def test_a_killed_interpolated_blend_makes_its_in_between_frames_again_on_resume(
    studio_home, tmp_path, manager
):
    # The checkpoint keeps the blend's own video frames; the frames interpolated to 16 fps
    # (and the flow fill between diffusion frames) are made again from them on resume.
    spec = BLEND.replace(
        output=BlendOutputSettings(fps=8, duration=1.0, fill="flow", interpolate_fps=16)
    )
    run_id = render_and_kill(studio_home, tmp_path, spec, after=4)
    state = json.loads(
        (run_folder(studio_home, run_id) / ".blend.checkpoint/state.json").read_text()
    )
    assert state["frames"] == 4  # rendered frames, not the file's

    _, result = resume(run_id, manager=manager)
    _, reference = studio.render(spec, session="reference", manager=manager)
    assert (result.frames, result.fps) == (reference.frames, reference.fps) == (16, 16.0)
    assert_same_video(result.outputs[0].path, reference.outputs[0].path)


@pytest.mark.slow  # killed, resumed and rendered again (4 min with 2 busy cores at load 20)
def test_a_killed_animation_with_learned_interpolation_resumes_to_the_same_file(
    studio_home, tmp_path, manager
):
    # Random weights of the RIFE layout (the studio ships none): the in-between frames are
    # made again from the checkpoint's rendered frames, by the same network, on resume.
    weights = save_random_interpolator(tmp_path / "rife" / "flownet.pkl", seed=5)
    output = OutputSettings(
        interpolate_fps=20, interpolate_method="learned", interpolator=str(weights)
    )
    spec = ANIMATION.replace(output=output)
    run_id = render_and_kill(studio_home, tmp_path, spec, after=4)
    _, result = resume(run_id, manager=manager)
    _, reference = studio.render(spec, session="reference", manager=manager)
    assert (result.frames, result.fps) == (reference.frames, reference.fps) == (25, 20.0)
    assert result.extra["resume"]["from_frame"] == 4
    assert_same_video(result.outputs[0].path, reference.outputs[0].path)
