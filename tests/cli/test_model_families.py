"""A model family the render kinds cannot run is refused on the command line in one line,
exit 2, before a run is recorded or a weight is read."""

from __future__ import annotations

import json

import pytest

from tests.support.families import model_folder


@pytest.mark.parametrize(
    "command",
    [
        ["animate", "--prompts", "0: a red circle"],
        ["blend", "a red circle", "a blue square"],
    ],
)
def test_an_upscaler_folder_is_refused_before_a_run_exists(cli, tmp_path, command):
    folder = model_folder(tmp_path, "upscale-x4", name="my-upscaler")
    home = tmp_path / "home"
    proc = cli(home, *command, "--model", str(folder))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "x4 upscaler" in lines[0] and "blend's upscale model" in lines[0]
    listed = cli(home, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_a_text_only_instruct_pix2pix_animation_is_refused_before_a_run_exists(cli, tmp_path):
    folder = model_folder(tmp_path, "pix2pix", name="my-pix2pix")
    home = tmp_path / "home"
    proc = cli(home, "animate", "--prompts", "0: make it blue", "--model", str(folder))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "InstructPix2Pix" in lines[0] and "text-only animation has none" in lines[0]
    listed = cli(home, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_a_missing_mask_is_refused_before_a_run_exists(cli, tmp_path):
    import numpy as np
    from PIL import Image

    folder = model_folder(tmp_path, "inpaint", name="my-inpainting")
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "input.png")
    home = tmp_path / "home"
    proc = cli(
        home,
        *("animate", "--prompts", "0: a red circle", "--model", str(folder)),
        *("--image-input", str(tmp_path / "input.png"), "--mask", str(tmp_path / "gone.png")),
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "mask" in lines[0] and "gone.png" in lines[0] and "image input" not in lines[0]
    listed = cli(home, "runs", "list", "--json")
    assert json.loads(listed.stdout) == []


@pytest.mark.slow
def test_inpainting_and_instruct_pix2pix_animate_from_the_command_line(cli, tmp_path):
    import numpy as np
    from PIL import Image

    from tests.support.edit_models import edit_model_folders

    folders = edit_model_folders(tmp_path)
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(tmp_path / "input.png")
    mask = np.zeros((64, 64), np.uint8)
    mask[:32] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    common = ("animate", "--prompts", "0: make it red\n2: make it blue", "--steps", "2")
    common += ("--image-input", str(tmp_path / "input.png"), "--strength", "1", "--json")
    home = tmp_path / "home"
    for model, extra in (
        (folders[9], ("--mask", str(tmp_path / "mask.png"))),
        (folders[8], ("--image-guidance", "0: (1.0), 2: (3.0)")),
    ):
        proc = cli(home, *common, "--model", str(model), *extra, "--quiet")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout)["frames"] == 3
    runs = json.loads(cli(home, "runs", "list", "--json").stdout)
    specs = [json.loads(cli(home, "runs", "show", r["id"], "--json").stdout) for r in runs]
    edits = sorted(json.dumps(s["spec"]["edit"], sort_keys=True) for s in specs)
    assert any('"image_guidance": "0: (1.0), 2: (3.0)"' in e for e in edits)
    assert any(e.endswith('mask.png"}') or "mask.png" in e for e in edits)
