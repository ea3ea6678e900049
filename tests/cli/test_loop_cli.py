"""``--loop`` on the command line: the plan says what the closing segment adds, and what
cannot loop is refused in one line with no run recorded (issue 29, item 1)."""

from __future__ import annotations

import json

import pytest

from tests.support.media import make_video

SCHEDULE = "0: a red circle\n4: a blue square\n8: a green star"


def _runs(cli, home) -> list:
    return json.loads(cli(home, "runs", "list", "--json").stdout)


def test_animate_loop_plans_the_closing_segment(cli, studio_home):
    args = ["animate", "--prompts", SCHEDULE, "--model", "builtin:tiny", "--steps", "2", "--plan"]
    plain = json.loads(cli(studio_home, *args, "--json").stdout)
    looped = json.loads(cli(studio_home, *args, "--loop", "--json").stdout)
    assert (plain["frames"], plain["denoise_steps"]) == (9, 18)
    assert (looped["frames"], looped["denoise_steps"]) == (12, 24)
    assert looped["loop"] == {"closing_frames": 4} and plain["loop"] is None
    text = cli(studio_home, *args, "--loop").stdout
    assert "12 frames (looped: the closing segment back to the first keyframe is 4" in text
    assert _runs(cli, studio_home) == []


def test_blend_loop_plans_a_transition_back_to_the_first_prompt(cli, studio_home):
    args = ["blend", "a red circle", "a blue square", "--model", "builtin:tiny"]
    args += ["--steps", "4", "--diffusion-frames", "5", "--plan", "--json"]
    plain = json.loads(cli(studio_home, *args).stdout)
    looped = json.loads(cli(studio_home, *args, "--loop").stdout)
    assert (plain["frames"], looped["frames"]) == (5, 8)
    assert (plain["loop"], looped["loop"]) == (False, True)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--prompts", "0: a red circle"], "loop needs two or more keyframes"),
        (["--prompts", SCHEDULE, "--zoom", "0: (1.01)"], "loop cannot close with motion (zoom)"),
        (
            ["--prompts", SCHEDULE, "--video-input", "{tmp}/clip.mp4"],
            "loop cannot be used with a video input",
        ),
    ],
)
def test_what_cannot_loop_is_one_line_and_exit_2(cli, studio_home, tmp_path, extra, message):
    make_video(tmp_path / "clip.mp4", frames=4, fps=8)
    extra = [a.format(tmp=tmp_path) for a in extra]
    proc = cli(studio_home, "animate", *extra, "--model", "builtin:tiny", "--loop")
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr
    assert _runs(cli, studio_home) == []
