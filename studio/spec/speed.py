"""How a render runs faster: ``torch.compile`` of the UNet and the opt-in fast mode; the
fields of the diffusion group that say so, described once here.

``compile``: ``auto`` compiles the UNet (``torch.compile``) for CUDA renders of at least
``COMPILE_AUTO_FRAMES`` frames, where its one-off cost (tens of seconds) is paid back;
``on`` compiles on any device (slow to start on the CPU); ``off`` never. The compile time is
timed apart (the result's ``compile`` timing) and reported per frame in the run's notes.

``fast``: step reuse (``studio.pipeline.gpu.reuses_step``): the middle steps take turns
reusing the previous step's noise prediction instead of calling the UNet. Off by default:
it changes the frames a little (docs/benchmarks.md measures how much).
"""

from __future__ import annotations

from typing import Any, Literal

from studio.spec.fields import setting

__all__ = ["COMPILE_AUTO_FRAMES", "COMPILE_FIELD", "COMPILE_MODES", "FAST_FIELD", "CompileMode"]

CompileMode = Literal["auto", "on", "off"]
COMPILE_MODES: tuple[str, ...] = ("auto", "on", "off")
# A compiled SD 1.5 UNet takes about a minute to compile and saves a few tens of ms a step;
# below this many frames of a CUDA render the compile would cost more than it saves.
COMPILE_AUTO_FRAMES = 100

COMPILE_FIELD: Any = setting(
    "auto",
    f"torch.compile the UNet: auto on CUDA for renders of {COMPILE_AUTO_FRAMES} frames or "
    "more (its compile time is timed apart and amortised over the frames); on: any device; "
    "off: never.",
    widget="select",
)
FAST_FIELD: Any = setting(
    False,
    "Fast mode: the middle denoise steps take turns reusing the previous step's noise "
    "prediction instead of calling the UNet (about a third fewer UNet calls at 10-30 "
    "steps); the frames change a little.",
    label="fast mode",
)
