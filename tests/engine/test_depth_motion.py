"""3D motion on the real engine: a tiny random-weight DPT loaded through the model manager,
depth pictures and videos the user gives, and renders on builtin:tiny that resume exactly."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from studio.animation.render import render_animation
from studio.errors import MediaError, ModelLoadError
from studio.events import NullEvents
from studio.media.depth import DepthStream, check_depth_input, read_depth
from studio.media.readers import read_frames
from studio.pipeline.depth import check_depth_model_ref, estimate_nearness, load_depth_model
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    DiffusionSettings,
    MotionSettings,
    OutputSettings,
    PromptSettings,
)
from tests.support.depth import depth_video, make_tiny_depth_anything


def spec_3d(**motion) -> AnimationSpec:
    return AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle\n2: a blue square"),
        diffusion=DiffusionSettings(
            model="builtin:tiny", steps=2, guidance=1.0, width=32, height=32, seed=5
        ),
        animation=AnimationSettings(fps=8),
        output=OutputSettings(format="png"),
        motion=MotionSettings(strength="0: (0.5)", border="zero", **motion),
    )


def frames_of(result) -> list[np.ndarray]:
    return list(read_frames(result.outputs[0].path))


def test_a_tiny_dpt_loads_once_through_the_manager_and_reads_a_frame(manager, tiny_depth_model):
    import torch

    check_depth_model_ref(str(tiny_depth_model))
    device, dtype = torch.device("cpu"), torch.float32
    model = load_depth_model(manager, str(tiny_depth_model), device, dtype)
    assert load_depth_model(manager, str(tiny_depth_model), device, dtype) is model
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    nearness = estimate_nearness(model, image)
    assert nearness.shape == (40, 48) and nearness.dtype == np.float64
    assert nearness.min() == 0.0 and nearness.max() == 1.0  # stretched to [0, 1]
    assert np.array_equal(estimate_nearness(model, image), nearness)
    other = estimate_nearness(model, 255 - image)
    assert not np.allclose(other, nearness)  # the map follows the picture


def test_a_tiny_depth_anything_reads_a_frame_through_the_same_code(manager, tmp_path):
    import torch

    folder = make_tiny_depth_anything(tmp_path / "tiny-da")
    check_depth_model_ref(str(folder))
    model = load_depth_model(manager, str(folder), torch.device("cpu"), torch.float32)
    assert type(model.model).__name__ == "DepthAnythingForDepthEstimation"
    image = np.random.default_rng(1).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    nearness = estimate_nearness(model, image)
    assert nearness.shape == (24, 40) and (nearness.min(), nearness.max()) == (0.0, 1.0)


def test_depth_models_the_studio_cannot_read_are_refused_by_name(tmp_path):
    glpn = tmp_path / "glpn"
    glpn.mkdir()
    (glpn / "config.json").write_text(json.dumps({"model_type": "glpn"}))
    with pytest.raises(ModelLoadError, match="is a glpn; 3D motion reads relative inverse"):
        check_depth_model_ref(str(glpn))
    with pytest.raises(ModelLoadError, match="neither an existing folder nor a Hub id"):
        check_depth_model_ref(str(tmp_path / "missing"))
    with pytest.raises(ModelLoadError, match="not in the local Hugging Face cache.*hf download"):
        check_depth_model_ref("someone/no-such-depth-model")


def test_depth_pictures_read_as_nearness(tmp_path):
    deep = np.full((20, 30), 32768, np.uint16)
    deep[:, :15] = 65535
    Image.fromarray(deep).save(tmp_path / "d16.png")  # a 16-bit depth PNG keeps its precision
    near = read_depth(tmp_path / "d16.png", 30, 20)
    assert near[0, 0] == pytest.approx(1.0) and near[0, 29] == pytest.approx(32768 / 65535)
    Image.fromarray(np.full((8, 8), 51, np.uint8)).save(tmp_path / "grey.png")
    assert read_depth(tmp_path / "grey.png", 16, 12) == pytest.approx(np.full((12, 16), 0.2))
    (tmp_path / "broken.png").write_bytes(b"not a picture")
    with pytest.raises(MediaError, match="depth input .*broken.png"):
        check_depth_input(str(tmp_path / "broken.png"), fps=8, frames=3)


def test_a_depth_video_streams_one_frame_per_output_frame(tmp_path):
    video = depth_video(tmp_path / "depth.mp4", [255, 0, 102])
    with pytest.raises(MediaError, match="gives 3 frames at 8 fps, but the animation has 4"):
        check_depth_input(str(video), fps=8, frames=4)
    stream = DepthStream(check_depth_input(str(video), fps=8, frames=3), 32, 32, 8)
    try:
        assert stream.at(0) == pytest.approx(np.ones((32, 32)), abs=0.01)
        assert stream.at(2) == pytest.approx(np.full((32, 32), 0.4), abs=0.01)  # 1 read past
    finally:
        stream.close()


class _Killed(Exception):
    pass


class _KillAfter(NullEvents):
    """Copies the render's checkpoint as a kill would leave it after ``frames`` frames, then
    stops the render (which removes its own checkpoint, as a finished or failed one does)."""

    def __init__(self, out_dir, frames):
        self.out_dir, self.frames = out_dir, frames

    def progress(self, done, total, preview=None):
        if done == self.frames:
            folder = self.out_dir / ".animation.checkpoint"
            shutil.copytree(folder, self.out_dir.parent / "kept")
            raise _Killed


def test_3d_motion_through_a_depth_video_resumes_with_the_same_frames(tmp_path, manager):
    # One plane per frame, at very different depths: the same move scales each differently.
    video = depth_video(tmp_path / "depth.mp4", [255, 0, 255])
    spec = spec_3d(translation_z="0: (60)", rotation_3d_z="0: (3)", depth_input=str(video))
    whole = render_animation(spec, tmp_path / "whole", manager=manager)
    assert whole.frames == 3 and whole.timings["depth"] >= 0

    out = tmp_path / "run" / "out"
    with pytest.raises(_Killed):
        render_animation(spec, out, manager=manager, events=_KillAfter(out, 2))
    shutil.copytree(tmp_path / "run" / "kept", out / ".animation.checkpoint")
    resumed = render_animation(spec, out, manager=manager, resume=True)
    assert resumed.resume["from_frame"] == 2
    a, b = frames_of(resumed), frames_of(whole)
    assert len(a) == len(b) == 3
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    # The depth matters: the same move through the video's planes in the other order differs.
    swapped = depth_video(tmp_path / "swapped.mp4", [0, 255, 0])
    motion = spec.motion.model_copy(update={"depth_input": str(swapped)})
    other = render_animation(
        spec.model_copy(update={"motion": motion}), tmp_path / "other", manager=manager
    )
    assert np.array_equal(frames_of(other)[0], b[0])  # frame 0 is text-to-image either way
    assert not np.array_equal(frames_of(other)[1], b[1])


def test_3d_motion_with_a_depth_model(tmp_path, manager, tiny_depth_model):
    spec = spec_3d(translation_z="0: (80)", depth_model=str(tiny_depth_model))
    result = render_animation(spec, tmp_path / "out", manager=manager)
    assert len(frames_of(result)) == 3
    assert result.timings["depth"] > 0
