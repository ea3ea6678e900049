"""An animation's ControlNets: each frame's control maps and scales, as the loop's UNet extra.

``AnimationControl`` loads the spec's ControlNets (``studio.pipeline.control``), evaluates
each scale curve over the frames, and reads each frame's control maps in frame order
(``studio.media.control.ControlMaps``: an image once, a video one frame at a time). For a
batch it gives ``extras(frames)``: one ``ControlResiduals`` for ``denoise(..., extras=...)``,
whose rows are those frames, each with its own scale. Maps are held for the batch being
made only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from studio.errors import SpecError
from studio.languages.curves import naming_curve, parse_curve
from studio.media.control import ControlMaps, ControlSource
from studio.pipeline.conditioning import UNetExtra
from studio.pipeline.control import ControlResiduals, check_matches, load_controlnet
from studio.pipeline.models import LoadedModel, ModelManager
from studio.spec.control import ControlSettings

__all__ = ["AnimationControl", "control_scales"]


def control_scales(control: ControlSettings, frames: int) -> list[np.ndarray]:
    """Each ControlNet's scale curve on ``frames`` frames, float64 ``(frames,)`` each.

    Raises ``CurveError`` for a curve that cannot be evaluated and ``SpecError`` naming the
    ControlNet, the frame and the value for a scale below 0.
    """
    scales = []
    for n, net in enumerate(control.nets, start=1):
        with naming_curve(f"ControlNet {n} control scale"):
            values = parse_curve(net.scale, names=("t",)).values(frames)
        bad = np.flatnonzero(values < 0)
        if bad.size:
            f = int(bad[0])
            raise SpecError(
                f"ControlNet {n} control scale must be 0 or more, got {values[f]:g} at frame {f}"
            )
        scales.append(values)
    return scales


class AnimationControl:
    """The ControlNets of one animation render (module docstring)."""

    def __init__(
        self,
        control: ControlSettings,
        sources: list[ControlSource],
        frames: int,
        *,
        loaded: LoadedModel,
        manager: ModelManager,
        width: int,
        height: int,
        fps: float,
        hook: Callable[[int, int, np.ndarray], None] | None = None,
    ) -> None:
        self.device, self.dtype = loaded.device, loaded.dtype
        self.nets = []
        for net in control.nets:
            model = load_controlnet(manager, net.model, loaded.device, loaded.dtype)
            check_matches(model, net.model, loaded.pipe.unet, loaded.ref)
            self.nets.append(model)
        self.scales = control_scales(control, frames)
        self.maps = ControlMaps(sources, width, height, fps=fps, hook=hook)
        self.held: dict[int, list[torch.Tensor]] = {}

    def read(self, frames: tuple[int, ...]) -> None:
        """Read the control maps of a batch's ``frames`` (in order); drops the batch before."""
        self.held = {}
        for f in frames:
            self.held[f] = [_to_tensor(m) for m in self.maps.frame(f)]

    def extras(self, frames: tuple[int, ...]) -> list[UNetExtra]:
        """The UNet extra for ``frames`` (read already): one row per frame, in order."""
        images = [
            torch.stack([self.held[f][i] for f in frames]).to(self.device, self.dtype)
            for i in range(len(self.nets))
        ]
        scales = [torch.tensor(s[list(frames)], dtype=torch.float32) for s in self.scales]
        return [ControlResiduals(self.nets, images, scales)]

    def skip(self, frames: int) -> None:
        """A resumed render: the first ``frames`` frames were made by an earlier attempt."""
        self.maps.skip(frames)

    def close(self) -> None:
        self.maps.close()


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [0, 1], as a ControlNet takes its image."""
    return torch.from_numpy(image).permute(2, 0, 1).float() / 255
