"""What happens to an animation's frames after the VAE: colour matching, the inpainting
finish, the upscale stage, the writer, the resume checkpoint and the progress events.

``FrameOutput.add`` takes a decoded batch. Where no later frame needs this one (no motion
feedback, no upscale stage, no inpainting or InstructPix2Pix model) and the device leaves the
CPU room (``beside_model``: ``studio.pipeline.gpu.frame_work_beside``) the batch goes to a
worker thread (``studio.media.background.OrderedWorker``) and the render denoises the next
batch meanwhile; before handing over the next batch it waits for this one, so one batch is
in the worker at a time. Otherwise it is done at once: with feedback because the next
frame's init image is this frame moved; PNG frames on a CPU whose cores all run torch's
threads because a thread encoding beside them slows every one of their operations. The frames, the file and the
checkpoint are the same either way: the worker does the same work in the same order, and
what a checkpoint commit records (denoise steps, the coherence reference) is taken when the
batch is handed over, not when the worker gets to it.

Progress is reported in the render's thread (the events' sinks need not be thread-safe), for
frames already written and committed, with nothing committed past them: a kill in
``progress(n)`` resumes from frame n.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from studio.animation.coherence import Coherence
from studio.animation.editing import FrameEdit
from studio.animation.init_images import InitImages
from studio.animation.plan import AnimationPlan
from studio.events import CancelToken
from studio.media.background import OrderedWorker
from studio.media.checkpoint import FrameCheckpoint
from studio.media.writers import FrameWriter
from studio.pipeline.common import Clock

__all__ = ["FrameOutput"]


class FrameOutput:
    """The frames' way from the VAE to the file (see the module docstring).

    ``done``: frames written and committed (those replayed from a checkpoint included);
    ``denoise_steps``: what they cost, earlier attempts included.
    """

    def __init__(
        self,
        plan: AnimationPlan,
        *,
        writer: FrameWriter,
        checkpoint: FrameCheckpoint,
        inits: InitImages,
        edit: FrameEdit,
        coherence: Coherence | None,
        upscale: Any,  # studio.animation.upscale's stage, or None
        progress: Callable[[int, np.ndarray | None], None],
        clock: Clock,
        done: int,
        denoise_steps: int,
        preview: np.ndarray | None = None,
        beside_model: bool = True,
    ) -> None:
        self.plan, self.writer, self.checkpoint = plan, writer, checkpoint
        self.inits, self.edit, self.coherence, self.upscale = inits, edit, coherence, upscale
        self.progress, self.clock = progress, clock  # progress(done, newest frame)
        self.done = self._reported = done
        self.denoise_steps = denoise_steps
        self._preview = preview
        self.pipelined = (
            beside_model and not plan.curves.feedback and upscale is None and not edit.active
        )
        self._worker = OrderedWorker(depth=1, threaded=self.pipelined)

    def add(
        self, batch: tuple[int, ...], images: list[np.ndarray], steps: int, cancel: CancelToken
    ) -> None:
        """Batch ``batch``'s decoded frames, which cost ``steps`` denoise steps: write them
        (now, or on the worker) and report the progress of every batch finished so far.

        A cancel heard in that report drops this batch (``RenderCancelled``): a cancelled
        file holds the frames progress reported, as when the frames are written at once."""
        self.denoise_steps += steps
        tensors: dict[str, torch.Tensor] = {}
        if self.coherence is not None:  # as it is now: the next batch moves it on
            tensors["coherence"] = self.coherence.reference
        denoise_steps = self.denoise_steps
        # The batch before has been written while this one denoised: report it, then hand
        # this one over. So ``progress(n)`` always finds the checkpoint at frame n.
        self._worker.wait()
        self._report()
        cancel.raise_if_cancelled()
        self._worker.submit(lambda: self._write(batch, images, denoise_steps, tensors))
        if not self.pipelined:  # written already: report it now, as before a pipeline
            self._report()

    def finish(self) -> None:
        """Wait for every batch handed over, and report the last progress."""
        self._worker.drain()
        self._report()

    def stop(self, cancelled: bool) -> None:
        """The render stops early: a cancelled one still writes the batches it made (its
        file is closed, shorter); a failed one drops them (its file is aborted)."""
        if cancelled:
            try:
                self._worker.drain()
            except Exception:  # the cancel is what the caller reports
                self._worker.stop()
        else:
            self._worker.stop()

    def _write(
        self,
        batch: tuple[int, ...],
        images: list[np.ndarray],
        denoise_steps: int,
        tensors: dict[str, torch.Tensor],
    ) -> None:
        clock, inits, upscale = self.clock, self.inits, self.upscale
        for f, image in zip(batch, images, strict=True):
            with clock.stage("write"):
                image = self.edit.finish(f, inits.match_colors(f, image))
                inits.made(f, image)  # the low-resolution frame: what the next ones read
            if upscale is not None:
                before = upscale.denoise_steps
                image = upscale.frame(f, image)
                denoise_steps += upscale.denoise_steps - before
                self.denoise_steps += upscale.denoise_steps - before  # unthreaded: no race
            with clock.stage("write"):
                self.writer.write(image)
                self.checkpoint.add_frame(image)
        with clock.stage("write"):
            engine: dict[str, Any] = {}
            if upscale is not None:
                engine, upscale_tensors = upscale.state(inits)
                tensors = {**upscale_tensors, **tensors}
            self.checkpoint.commit(
                denoise_steps=denoise_steps, engine=engine, tensors=tensors or None
            )
        self._preview = image
        self.done = batch[-1] + 1

    def _report(self) -> None:
        if self.done > self._reported:
            self._reported = self.done
            self.progress(self.done, self._preview)
