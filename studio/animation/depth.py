"""Each frame's depth for 3D motion: from a depth model reading the frame, or the user's depth
image or video (``studio.animation.motion3d`` has the conventions).

``FrameDepth.at(f, image)`` is asked, in frame order, for the depth of frame ``f``, the picture
that moves into frame ``f + 1``: a depth model reads ``image`` (frame ``f`` as made), a depth
image is the same for every frame, a depth video gives its frame ``f``. Resumed renders ask
from where they go on; the video is read past what they skip. So the depth of a frame depends
only on the spec and the frames before it: the same on a resume as in one go.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from studio.animation.motion3d import nearness_to_depth
from studio.media.depth import DepthInput, DepthStream, check_depth_input

if TYPE_CHECKING:
    from studio.pipeline.common import Clock
    from studio.pipeline.models import LoadedModel, ModelManager
    from studio.spec import AnimationSpec

__all__ = ["FrameDepth", "check_depth"]


def check_depth(spec: AnimationSpec, frames: int) -> DepthInput | None:
    """Before model work: the depth model's folder (configs only) or the depth input (probed
    once; a video must give ``frames`` frames). Returns the probed input, or None for a model
    or no depth source. Raises ``ModelLoadError`` or ``MediaError`` naming the source."""
    m = spec.motion
    if m.depth_model:
        from studio.pipeline.depth import check_depth_model_ref

        check_depth_model_ref(m.depth_model)
    if m.depth_input:
        return check_depth_input(m.depth_input, fps=spec.animation.fps, frames=frames)
    return None


class FrameDepth:
    """The depth (H, W) float64, in depth units, of each frame that moves into the next.

    Loads the spec's depth model through ``manager`` (once per process, on the render's
    device and dtype), or opens ``source``, its depth input as ``check_depth`` probed it;
    ``close`` stops a depth video.
    """

    def __init__(
        self,
        spec: AnimationSpec,
        source: DepthInput | None,
        *,
        loaded: LoadedModel,
        manager: ModelManager,
        clock: Clock,
    ) -> None:
        m, d = spec.motion, spec.diffusion
        self.near, self.far = m.depth_near, m.depth_far
        self.clock = clock
        self.model = None
        self.stream = None
        if m.depth_model:
            from studio.pipeline.depth import load_depth_model

            with clock.stage("depth"):
                self.model = load_depth_model(manager, m.depth_model, loaded.device, loaded.dtype)
        else:
            if source is None:
                raise ValueError("a depth input must be probed first (check_depth)")
            self.stream = DepthStream(source, d.width, d.height, spec.animation.fps)

    def at(self, f: int, image: np.ndarray) -> np.ndarray:
        """The depth of frame ``f``, whose picture is ``image`` (H, W, 3) uint8."""
        with self.clock.stage("depth"):
            if self.model is not None:
                from studio.pipeline.depth import estimate_nearness

                nearness = estimate_nearness(self.model, image)
            else:
                assert self.stream is not None
                nearness = self.stream.at(f)
            return nearness_to_depth(nearness, self.near, self.far)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
