"""Golden frames: a fixed set of renders must give the frames they gave when recorded.

Refactoring the engine must not change what it draws. Each case below is a whole spec written
as JSON (every setting explicit, so a changed default cannot hide a changed output), rendered
through the public API to PNG frames, and compared with the frames kept in
``tests/data/golden/<case>.npz``:

- on the platform the frames were recorded on (torch version, CPU kernel family, machine),
  every decoded frame must be byte-identical;
- elsewhere, float kernels differ in their last bits, so animation frames must agree within
  a small tolerance instead (and the test says which comparison it made); the blend, whose
  adaptive insertion turns a last-bit difference into other frames, is skipped there.

Re-record only for an intended change of output:
``STUDIO_GOLDEN_RECORD=1 .venv/bin/python -m pytest tests/engine/test_golden_frames.py``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
from collections.abc import Iterator
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf
import torch
from PIL import Image

import studio
from studio.spec import load_spec

GOLDEN = Path(__file__).parents[1] / "data" / "golden"
RECORD = os.environ.get("STUDIO_GOLDEN_RECORD") == "1"
SIZE = 64
RECORDED_THREADS = 2  # torch's default on the 2-core machine that recorded them

DIFFUSION = {
    "model": "builtin:tiny",
    "scheduler": "ddim",
    "scheduler_kwargs": {},
    "steps": 6,
    "guidance": 3.0,
    "guidance_stop": 0.0,
    "width": SIZE,
    "height": SIZE,
    "seed": 11,
    "device": "cpu",
    "dtype": "float32",
    "attention_slicing": False,
    "vae_slicing": False,
    "vae_tiling": False,
    "cpu_offload": False,
}
ANIMATION = {
    "kind": "animation",
    "schema_version": 2,
    "prompts": {"schedule": "0: a red circle\n5: a blue square", "negative_prompt": ""},
    "diffusion": DIFFUSION,
    "animation": {
        "fps": 8,
        "interpolation": "slerp",
        "easing": "linear",
        "sine_frequencies": [1.0],
        "easing_curve": "",
        "latents": "keyframe",
        "batch_size": 1,
    },
    "output": {"format": "png"},
    "input": {"image": "", "video": "", "keep_audio": False},
    "motion": {
        "zoom": "",
        "angle": "",
        "translate_x": "",
        "translate_y": "",
        "strength": "0: (0.6)",
        "noise": "",
        "border": "replicate",
        "coherence_scale": 0.0,
        "coherence_alpha": 0.2,
        "coherence_noise": "",
        "color_match": "none",
    },
    "audio": {"path": "", "component": "both", "timing": False, "smoothing": 0.5, "mux": False},
}
BLEND = {
    "kind": "blend",
    "schema_version": 2,
    "prompts": {
        "keyframes": [
            {"prompt": "a red circle", "seed": None, "negative": None},
            {"prompt": "a blue square", "seed": 40, "negative": "green"},
            {"prompt": "a yellow star", "seed": None, "negative": None},
        ],
        "negative_prompt": "blurry",
    },
    "diffusion": {**DIFFUSION, "steps": 10},
    "blend": {
        "setup": "auto",
        "preset": "medium",
        "depth_strength": 0.4,
        "diffusion_frames": 6,
        "branches": [],
        "injection_strengths": [],
        "injection_steps": [],
        "insertion": "adaptive",
        "distance": "ssim",
        "budget_steps": 0,
        "budget_seconds": 0.0,
        "crossfeed_power": 0.3,
        "crossfeed_range": 0.5,
        "crossfeed_decay": 0.9,
        "guidance_dampening": 0.2,
        "embeddings": "slerp",
        "inpaint_mask": "",
        "inpaint_image": "",
    },
    "upscale": {"model": "", "steps": 20, "guidance": 7.5, "noise_level": 20, "scheduler": "ddim"},
    "output": {"fps": 8, "duration": 1.5, "fill": "crossfade", "format": "png"},
}


def _with(base: dict, **groups: dict) -> dict:
    spec = copy.deepcopy(base)
    for group, values in groups.items():
        spec[group].update(values)
    return spec


def _video(path: Path) -> Path:
    """Eight lossless 32 px frames whose colour and a bar move with the frame index."""
    writer = imageio_ffmpeg.write_frames(
        str(path),
        (32, 32),
        fps=10,
        macro_block_size=1,
        quality=None,
        output_params=["-crf", "0", "-pix_fmt", "yuv444p"],
        pix_fmt_out="yuv444p",
        ffmpeg_log_level="error",
    )
    writer.send(None)
    for i in range(8):
        frame = np.zeros((32, 32, 3), np.uint8)
        frame[..., 0] = 20 * i
        frame[..., 2] = 200 - 20 * i
        frame[:, 3 * i : 3 * i + 4, 1] = 255
        writer.send(frame)
    writer.close()
    return path


def _picture(path: Path) -> Path:
    yy, xx = np.mgrid[:SIZE, :SIZE]
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    image[...] = (20, 40, 160)
    image[(yy - 30) ** 2 + (xx - 34) ** 2 < 15**2] = (220, 30, 30)
    Image.fromarray(image).save(path)
    return path


def _clicks(path: Path) -> Path:
    """Two seconds of silence with clicks at 0.25 s and 1.0 s."""
    rate = 22050
    samples = np.zeros(2 * rate, np.float32)
    for at in (0.25, 1.0):
        start = int(at * rate)
        samples[start : start + 400] = 0.8 * np.sin(np.arange(400) * 0.6) * np.hanning(400)
    sf.write(path, samples, rate, subtype="PCM_16")
    return path


def _case_specs(inputs: Path) -> dict[str, dict]:
    return {
        "animate-shapes": _with(
            ANIMATION,
            prompts={
                "schedule": "0: a large red circle on a black background\n"
                "4: a small blue square on a white background",
                "negative_prompt": "",
            },
            diffusion={"model": "builtin:shapes", "guidance_stop": 0.2, "steps": 5},
            animation={"batch_size": 2, "easing": "sine", "sine_frequencies": [0.5]},
        ),
        "animate-tiny-euler-a": _with(
            ANIMATION,
            prompts={
                "schedule": "0: a (red)1.3 circle\n3: a blue square\n6: a star",
                "negative_prompt": "grey",
            },
            diffusion={"scheduler": "euler_a", "guidance": 5.0, "guidance_stop": 0.3},
            animation={"interpolation": "lerp", "latents": "fixed", "batch_size": 3},
        ),
        "video-input": _with(
            ANIMATION,
            prompts={"schedule": "0: a red circle\n4: a blue square", "negative_prompt": ""},
            diffusion={"scheduler": "dpm++"},
            input={"video": str(inputs / "clip.mp4")},
            motion={"strength": "0: (0.5), 6: (0.8)", "color_match": "input", "noise": "0.02"},
            animation={"batch_size": 2},
        ),
        "motion": _with(
            ANIMATION,
            prompts={"schedule": "0: a red circle\n7: a blue square", "negative_prompt": ""},
            input={"image": str(inputs / "init.png")},
            motion={
                "zoom": "0: (1.05)",
                "angle": "0: (2*sin(t/3))",
                "translate_x": "1",
                "translate_y": "0: (0), 4: (-2)",
                "strength": "0: (0.55)",
                "noise": "0: (0.01)",
                "border": "reflect",
                "coherence_scale": 0.3,
                "coherence_alpha": 0.25,
                "coherence_noise": "0.01",
                "color_match": "first",
            },
        ),
        "audio-timed": _with(
            ANIMATION,
            prompts={
                "schedule": "0: a red circle\n8: a blue square\n15: a star",
                "negative_prompt": "",
            },
            diffusion={"scheduler": "unipc", "steps": 4},
            animation={"easing": "curve", "easing_curve": "0: (s**2)"},
            motion={"zoom": "0: (1 + 0.05*audio)", "strength": "0: (0.7)"},
            audio={
                "path": str(inputs / "clicks.wav"),
                "component": "percussive",
                "timing": True,
                "smoothing": 0.3,
            },
        ),
        "blend": BLEND,
    }


CASES = list(_case_specs(Path("inputs")))


def _platform() -> dict[str, str]:
    return {
        "torch": torch.__version__,
        "cpu": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
    }


def _frames(folder: Path) -> np.ndarray:
    paths = sorted(folder.glob("frame_*.png"))
    assert paths, f"no frames in {folder}"
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def _digest(frames: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(frames).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("golden-inputs")
    _video(folder / "clip.mp4")
    _picture(folder / "init.png")
    _clicks(folder / "clicks.wav")
    return folder


@pytest.fixture(autouse=True)
def _recorded_thread_count() -> Iterator[None]:
    """Render with the torch thread count the frames were recorded with: CPU kernels split
    their sums by thread, so another count changes last bits (tests/conftest.py gives each
    pytest-xdist worker one thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(RECORDED_THREADS)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("case", CASES)
def test_render_gives_the_recorded_frames(case, inputs, tmp_path, manager):
    spec = load_spec(json.loads(json.dumps(_case_specs(inputs)[case])))
    engine = studio.render_blend if spec.kind == "blend" else studio.render_animation
    result = engine(spec, tmp_path / "out", manager=manager)
    frames = _frames(Path(result.outputs[0].path))
    kept = GOLDEN / f"{case}.npz"
    if RECORD:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(kept, frames=frames)
        (GOLDEN / f"{case}.json").write_text(
            json.dumps({"sha256": _digest(frames), "platform": _platform()}, indent=2) + "\n"
        )
        pytest.skip(f"recorded {case}")
    record = json.loads((GOLDEN / f"{case}.json").read_text())
    expected = np.load(kept)["frames"]
    assert frames.shape == expected.shape, (
        f"{case}: {frames.shape} frames, recorded {expected.shape}"
    )
    assert _digest(expected) == record["sha256"], f"{kept} does not match its recorded digest"
    if record["platform"] == _platform():
        assert _digest(frames) == record["sha256"], (
            f"{case}: frames differ from the recorded ones (max difference "
            f"{np.abs(frames.astype(int) - expected.astype(int)).max()})"
        )
    elif spec.kind == "blend":
        # Adaptive insertion picks where each new frame goes by comparing SSIM distances: a
        # last-bit difference of other float kernels may pick another place, which makes
        # other frames, not slightly different ones. Only the recording platform can say.
        pytest.skip(f"blend frames are compared on {record['platform']} only")
    else:  # other float kernels: the same picture within a few levels
        difference = np.abs(frames.astype(int) - expected.astype(int))
        assert difference.mean() < 1.0 and difference.max() <= 24, (
            f"{case}: recorded on {record['platform']}, compared on {_platform()}: "
            f"mean difference {difference.mean():.3f}, max {difference.max()}"
        )
