"""ControlNet options of ``animate``: the pairing rule, refusals before a run is recorded, and
one render whose stored spec holds the ControlNet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from db import Store, list_runs
from studio.app.cli import main
from tests.support.media import make_video

BASE = ["animate", "--prompts", "0: a red circle", "--model", "builtin:tiny", "--steps", "2"]
SMALL = ["--width", "32", "--height", "32"]


@pytest.fixture
def square(tmp_path) -> Path:
    image = np.zeros((32, 32, 3), np.uint8)
    image[8:24, 8:24] = 255
    Image.fromarray(image).save(tmp_path / "square.png")
    return tmp_path / "square.png"


def no_runs(home: Path) -> bool:
    if not (home / "studio.db").exists():
        return True
    store = Store.open(home)
    try:
        with store.session() as s:
            return list_runs(s) == []
    finally:
        store.close()


def test_a_render_with_a_controlnet_stores_it_in_the_spec(
    studio_home, tiny_controlnet, square, capsys
):
    code = main(
        [*BASE, *SMALL, "--json", "--quiet", "--controlnet", str(tiny_controlnet)]
        + ["--control-image", str(square), "--control-preprocess", "canny"]
        + ["--control-scale", "0: (0.5)"]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    run_id = json.loads(out.out)["run_id"]
    store = Store.open(studio_home)
    with store.session() as s:
        (run,) = list_runs(s)
    store.close()
    assert run.id == run_id
    (net,) = run.spec["control"]["nets"]
    assert net["model"] == str(tiny_controlnet.resolve())
    assert net["image"] == str(square.resolve())
    assert (net["preprocess"], net["scale"]) == ("canny", "0: (0.5)")


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (
            ["--controlnet", "A", "--controlnet", "B", "--control-image", "x.png"],
            "--controlnet is given 2 times but --control-image/--control-video 1 time",
        ),
        (
            ["--controlnet", "A", "--control-image", "x.png", "--control-video", "y.mp4"],
            "--controlnet is given 1 time but --control-image/--control-video 2 times",
        ),
        (
            ["--controlnet", "A", "--controlnet", "B", "--control-image", "x.png"]
            + ["--control-video", "y.mp4", "--control-scale", "1"],
            "--controlnet is given 2 times but --control-scale 1 time",
        ),
        (
            ["--controlnet", "A", "--control-image", "x.png"]
            + ["--control-preprocess", "canny", "--control-preprocess", "edges"],
            "--controlnet is given 1 time but --control-preprocess 2 times",
        ),
        (["--control-scale", "1"], "--control-scale belongs to a ControlNet"),
    ],
)
def test_a_missing_or_surplus_paired_option_is_one_line_exit_2(studio_home, capsys, flags, words):
    code = main([*BASE, *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and words in err
    assert no_runs(studio_home)


def test_refusals_before_a_run_is_recorded(studio_home, tmp_path, tiny_controlnet, square, capsys):
    not_a_net = tmp_path / "unet"
    not_a_net.mkdir()
    (not_a_net / "config.json").write_text('{"_class_name": "UNet2DConditionModel"}')
    short = make_video(tmp_path / "short.mp4", frames=2, fps=8)
    cases = [
        (["--controlnet", str(not_a_net), "--control-image", str(square)], "not a ControlNetModel"),
        (["--controlnet", "org/not-cached", "--control-image", str(square)], "local Hugging Face"),
        (
            ["--controlnet", str(tiny_controlnet), "--control-image", str(tmp_path / "no.png")],
            "ControlNet 1",
        ),
        (
            ["--controlnet", str(tiny_controlnet), "--control-video", str(short), "--fps", "8"]
            + ["--prompts", "0: a red circle\n4: a blue square"],
            "gives 2 frames at 8 fps, but the animation has 5",
        ),
        (
            ["--controlnet", str(tiny_controlnet), "--control-image", str(square)]
            + ["--control-scale", "0: (1), 1: (-1)", "--prompts", "0: a\n1: b"],
            "must be 0 or more, got -1 at frame 1",
        ),
    ]
    for flags, words in cases:
        code = main([*BASE, *flags])
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.count("\n") == 1 and words in err, err
    assert no_runs(studio_home)


def test_the_command_line_says_a_pairing_error_in_one_line(cli, tmp_path):
    proc = cli(tmp_path / "home", *BASE, "--controlnet", "A")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --controlnet is given 1 time but --control-image/--control-video 0 times; give "
        "one control image or video per --controlnet, in the same order"
    ]
    assert no_runs(tmp_path / "home")


def test_a_blend_refuses_a_control_video_in_one_line(
    studio_home, tmp_path, tiny_controlnet, capsys
):
    video = make_video(tmp_path / "v.mp4", frames=4, fps=8)
    code = main(
        ["blend", "a red circle", "a blue square", "--model", "builtin:tiny"]
        + ["--controlnet", str(tiny_controlnet), "--control-video", str(video)]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "a blend takes a control image, not a control video" in err
    assert no_runs(studio_home)
