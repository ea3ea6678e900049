"""torch.compile of the UNet (``--compile on``) on the CPU: slow (the compile takes a minute or
more), so in the slow tier. The compiled model is a cache entry of its own, its frames are
the plain model's (within float rounding), and the compile is timed apart and noted."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from studio.animation.render import render_animation
from studio.events import NullEvents
from studio.pipeline.models import LoadOptions
from studio.spec import AnimationSpec

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(1800),  # inductor compiles the tiny UNet in minutes on a busy CPU
    pytest.mark.skipif(shutil.which("cc") is None, reason="torch.compile needs a C compiler"),
]


class _Started(NullEvents):
    def started(self, plan):
        self.plan = plan


def _spec(compile: str) -> AnimationSpec:
    return AnimationSpec.model_validate(
        {
            "prompts": {"schedule": "0: a red circle\n1: a blue square"},
            "diffusion": {
                "model": "builtin:tiny",
                "steps": 4,
                "guidance": 1.0,  # unguided: one input shape, so one compile
                "width": 64,
                "height": 64,
                "device": "cpu",
                "compile": compile,
            },
            "animation": {"batch_size": 2},
            "output": {"format": "png"},
        }
    )


def _frames(result) -> list[np.ndarray]:
    from PIL import Image

    return [np.asarray(Image.open(p)) for p in sorted(result.outputs[0].path.glob("*.png"))]


def test_a_compiled_unet_renders_the_same_frames_and_times_its_compile(manager, tmp_path):
    events = _Started()
    compiled = render_animation(_spec("on"), tmp_path / "on", manager=manager, events=events)
    assert events.plan["gpu_paths"]["compile"] is True
    assert compiled.timings["compile"] > 0
    assert any("torch.compile of the UNet took" in n for n in compiled.notes)
    shared = manager.load("builtin:tiny", LoadOptions(device="cpu"))
    assert getattr(shared.pipe.unet, "_compiled_call_impl", None) is None  # not changed
    plain = render_animation(_spec("auto"), tmp_path / "auto", manager=manager)  # CPU: off
    assert "compile" not in plain.timings
    for a, b in zip(_frames(compiled), _frames(plain), strict=True):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 2
