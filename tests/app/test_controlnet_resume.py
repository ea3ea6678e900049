"""A killed render with a control video resumes with each frame's own control frame."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import studio
from db import Store, list_runs
from studio import resume
from studio.media.readers import read_frames
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    DiffusionSettings,
    OutputSettings,
    PromptSettings,
)
from studio.spec.control import ControlNetItem, ControlSettings

ROOT = Path(__file__).resolve().parents[2]


def squares_video(path: Path) -> Path:
    """Four lossless frames, a white square in a different corner in each: a control frame
    taken for the wrong output frame shows."""
    import imageio_ffmpeg

    writer = imageio_ffmpeg.write_frames(
        str(path),
        (32, 32),
        fps=8,
        macro_block_size=1,
        output_params=["-crf", "0", "-pix_fmt", "yuv444p"],
        pix_fmt_out="yuv444p",
        ffmpeg_log_level="error",
    )
    writer.send(None)
    for y, x in ((2, 2), (2, 18), (18, 18), (18, 2)):
        frame = np.zeros((32, 32, 3), np.uint8)
        frame[y : y + 12, x : x + 12] = 255
        writer.send(frame)
    writer.close()
    return path


KILLER = """
import os, signal, sys
import studio
from studio.events import NullEvents
from studio.spec import load_spec

class Killer(NullEvents):
    def progress(self, done, total, preview=None):
        if done >= 2:
            os.kill(os.getpid(), signal.SIGKILL)

studio.render(load_spec(open(sys.argv[1]).read()), session="killed", events=Killer())
"""


@pytest.mark.slow  # a render in a subprocess, killed, then two more (about 20 s of CPU)
def test_a_resumed_render_reads_the_control_video_from_where_it_stopped(
    studio_home, tmp_path, manager, tiny_controlnet
):
    video = squares_video(tmp_path / "control.mp4")
    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle\n3: a blue square"),
        diffusion=DiffusionSettings(
            # guidance_stop given: the API fills a field left unset in a Python spec with the
            # model's value, while the killed process reads the spec from JSON, all set.
            model="builtin:tiny",
            steps=2,
            guidance=3.0,
            guidance_stop=0.0,
            width=32,
            height=32,
            seed=3,
        ),
        animation=AnimationSettings(fps=8, batch_size=1),
        output=OutputSettings(format="png"),
        control=ControlSettings(
            nets=(ControlNetItem(model=str(tiny_controlnet), video=str(video), preprocess="canny"),)
        ),
    )
    (tmp_path / "spec.json").write_text(spec.to_json())
    (tmp_path / "killer.py").write_text(KILLER)
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, str(tmp_path / "killer.py"), str(tmp_path / "spec.json")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    with Store.open(studio_home).session() as s:
        (run,) = list_runs(s)
        run_id = run.id

    _, resumed = resume(run_id, manager=manager)
    _, reference = studio.render(spec, session="reference", manager=manager)
    assert resumed.extra["resume"]["from_frame"] == 2
    a = list(read_frames(resumed.outputs[0].path))
    b = list(read_frames(reference.outputs[0].path))
    assert len(a) == len(b) == 4
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
