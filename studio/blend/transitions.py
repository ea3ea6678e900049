"""The diffusion frames of a blend's transitions, one transition after the other.

``Transitions.transition(t)`` makes transition ``t``'s frames in prompt order: the two
keyframe trajectories (every keyframe is computed once and kept for the transition after
it), then the in-between frames, each branching off its two neighbours at its level's
injection step (adaptive: between the neighbours whose images differ most), each decoded as
soon as it is made; with an inpainting mask, every trajectory's fixed region is held on the
reference (``studio.blend.inpaint``).

An inpainting model (9-channel UNet) is given the mask and the reference's masked latents at
every step instead (``studio.pipeline.edit``): it draws the transitioning region in the
context of the fixed one itself, so the latent pull is left out; with no inpainting mask (or
for the first keyframe when it is the reference) the whole frame is masked and the model
draws from the text alone. Decoded frames are composited over the reference either way. An
InstructPix2Pix model has no picture to edit in a blend and is refused.

Trajectories live on the device as ``{step index: latent entering that step}`` (the final
latent under index ``N``), holding only the steps a child or the crossfeed will read. A
branch at step ``k`` runs the one denoising loop (``studio.pipeline.denoise``) from index
``k`` on a fresh copy of the run's scheduler.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from studio.blend.inpaint import InpaintGuide
from studio.blend.plan import BlendPlan
from studio.blend.tree import level_runs, share_gaps, wave_size
from studio.media.perceptual import ssim_distance
from studio.pipeline.conditioning import TextStates, UNetExtra, unet_extras
from studio.pipeline.denoise import denoise, one_timestep_per_step
from studio.pipeline.edit import INPAINT_CHANNELS, InpaintInputs, check_edit_model, unet_channels
from studio.pipeline.interpolate import lerp, slerp
from studio.pipeline.latents import branch_seed, decode, latent_shape, seeded_noise
from studio.pipeline.text import with_negative

if TYPE_CHECKING:
    from studio.events import CancelToken
    from studio.pipeline.common import Clock
    from studio.pipeline.models import Pipeline
    from studio.pipeline.schedulers import Scheduler

__all__ = ["BRANCH_BATCH", "DISTANCES", "Frame", "Transitions"]

# In-between frames of one wave denoised together, at most: one UNet call of up to this many
# latents (twice as many rows with guidance) instead of one call each.
BRANCH_BATCH = 8


@dataclass
class Frame:
    """One diffusion frame of the current transition."""

    position: float  # prompt position in the transition, 0 (left keyframe) .. 1 (right)
    level: int  # 0 for keyframes
    injection_step: int  # 0 for keyframes
    trajectory: dict[int, torch.Tensor]  # step index -> latent (1, C, h, w) entering it
    latent: torch.Tensor  # the final latent, (1, C, h, w)
    image: np.ndarray  # decoded, (H, W, 3) uint8
    parents: tuple[Frame, Frame] | None = None  # an in-between's neighbours when made
    weight: float = 0.0  # its start: slerp(parents' latents, weight)
    created: int = 0  # order made in its transition: 0 left keyframe, 1 right, 2... branches

    def to_dict(self) -> dict[str, Any]:
        """What the realised tree records of this frame (``BlendResult.tree``)."""
        return {
            "position": round(self.position, 6),
            "level": self.level,
            "injection_step": self.injection_step,
        }


def _latent_distance(a: Frame, b: Frame) -> float:
    """Root mean square difference of two frames' final latents."""
    return float(torch.sqrt(torch.mean((a.latent.float() - b.latent.float()) ** 2)))


# Distances for adaptive insertion: name (spec.blend.distance) -> function of two frames.
DISTANCES = {
    "ssim": lambda a, b: ssim_distance(a.image, b.image),
    "latent": _latent_distance,
}


class Transitions:
    """Makes the diffusion frames of each transition; keeps the keyframe shared by two."""

    def __init__(
        self,
        plan: BlendPlan,
        pipe: Pipeline,
        dtype: torch.dtype,
        device: torch.device,
        scheduler: Scheduler,
        embeddings: dict[str, TextStates],
        clock: Clock,
        cancel: CancelToken,
        inpaint: InpaintGuide | None = None,
        *,
        extras: Sequence[UNetExtra] = (),
        branch_batch: int = BRANCH_BATCH,
        watch: Callable[[torch.Tensor], None] | None = None,
    ) -> None:
        if branch_batch < 1:
            raise ValueError(f"branch_batch must be at least 1, got {branch_batch}")
        self.branch_batch = branch_batch  # in-between frames per UNet call at most
        spec = plan.spec
        self.watch = watch  # a live preview: sees the latents after every step
        self.extras = extras  # for every UNet call (ControlNets: studio.pipeline.control)
        self.plan, self.pipe, self.dtype, self.device = plan, pipe, dtype, device
        self.scheduler, self.clock, self.cancel = scheduler, clock, cancel
        self.blend = spec.blend
        self.steps = spec.diffusion.steps
        self.guidance = spec.diffusion.guidance
        self.guidance_stop = spec.diffusion.guidance_stop
        self.fast = spec.diffusion.fast  # step reuse (studio.pipeline.gpu.reuses_step)
        self.guided = self.guidance > 1.0
        self.cond = [embeddings[p] for p in plan.prompts]  # each one row
        self.uncond = [embeddings[n] for n in plan.negatives] if self.guided else None
        self.mix = slerp if self.blend.embeddings == "slerp" else lerp
        self.distance = DISTANCES[self.blend.distance]
        self.inpaint = inpaint
        # Steps a later reader needs: children start at injection steps; crossfeed reads all,
        # and so does inpainting (the first keyframe may be the reference at every step).
        reads_all = self.blend.crossfeed_power > 0 or inpaint is not None
        every = set(range(self.steps + 1))
        self.keep = every if reads_all else {*plan.tree.insertions(), self.steps}
        one_timestep_per_step(scheduler, self.steps)
        d = spec.diffusion
        self.extras = [*unet_extras(pipe, d.width, d.height), *self.extras]  # SDXL's first
        check_edit_model(pipe, d.model, "blend", has_input=False, mask="")
        self.latent_shape = latent_shape(pipe, d.width, d.height)
        # An inpainting model's mask and masked reference (None: a plain UNet).
        self.edit: InpaintInputs | None = None
        self._edit_inputs: dict[bool, torch.Tensor] = {}  # masked -> its extra channels
        if unet_channels(pipe) == INPAINT_CHANNELS:
            mask = None if inpaint is None else inpaint.mask[..., 0]
            self.edit = InpaintInputs(pipe, mask, d.width, d.height)
        self.level_of = {lv.injection_step: i + 1 for i, lv in enumerate(plan.tree.levels)}
        self.denoise_steps = 0
        self.step_seconds = 0.0  # measured wall time per denoise step, decoding included
        self._seconds_spent = 0.0
        self._steps_timed = 0
        self._carried: Frame | None = None  # the right keyframe of the last transition
        # Keyframes whose trajectory comes again later in the walk (a looped movie's first):
        # kept from when they are made, so their twin is not computed a second time.
        twins = plan.keyframe_twins
        self._reused = {i for j, i in enumerate(twins) if i != j}
        self._kept: dict[int, Frame] = {}

    # -- checkpoints ---------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(JSON-safe fields, tensors)`` that ``restore`` needs to go on after the last
        transition made: the carried right keyframe, the counters, the inpainting reference."""
        fields = {
            "denoise_steps": self.denoise_steps,
            "seconds_spent": self._seconds_spent,
            "steps_timed": self._steps_timed,
        }
        carried = self._carried
        tensors = {
            "trajectory": carried.trajectory,
            "image": torch.from_numpy(np.ascontiguousarray(carried.image)),
        }
        if self._kept:
            tensors["kept"] = {
                str(j): {"trajectory": f.trajectory, "image": torch.from_numpy(f.image.copy())}
                for j, f in self._kept.items()
            }
        reference = None if self.inpaint is None else self.inpaint.reference
        if reference is not None:
            tensors["reference"] = {
                "trajectory": reference[0],
                "image": torch.from_numpy(np.ascontiguousarray(reference[1])),
            }
        return fields, tensors

    def restore(self, fields: dict[str, Any], tensors: dict[str, Any]) -> None:
        """Take up the state ``state`` gave (its tensors on this run's device)."""
        self.denoise_steps = fields["denoise_steps"]
        self._seconds_spent = fields["seconds_spent"]
        self._steps_timed = fields["steps_timed"]
        self._measure(0.0, 0)
        trajectory = tensors["trajectory"]
        image = tensors["image"].cpu().numpy()
        self._carried = Frame(1.0, 0, 0, trajectory, trajectory[self.steps], image, created=1)
        for j, kept in tensors.get("kept", {}).items():
            trajectory = kept["trajectory"]
            image = kept["image"].cpu().numpy()
            self._kept[int(j)] = Frame(0.0, 0, 0, trajectory, trajectory[self.steps], image)
        if "reference" in tensors:
            ref = tensors["reference"]
            self.inpaint.set_reference(ref["trajectory"], ref["image"].cpu().numpy())

    # -- one transition ------------------------------------------------------------------

    def transition(
        self,
        t: int,
        preview: Callable[[np.ndarray, int, int], None],
        keys: tuple[Frame, Frame] | None = None,
    ) -> list[Frame]:
        """The diffusion frames of transition ``t`` in prompt order, keyframes included.

        ``preview(image, made, planned)`` hears each frame this call computes: ``made`` of
        the ``planned`` it will compute at most (a time budget may stop it sooner).
        ``keys``: its two keyframes (``keyframe``) made elsewhere, as a scale-out worker is
        given them; None: made here (the left one carried from the transition before).
        """
        insertions = self.plan.tree.insertions()[: self.plan.in_betweens(t)]
        if keys is not None:
            self._carried = dataclasses.replace(keys[0], position=1.0, created=1)
        planned = len(insertions) + (1 if self._carried is not None else 2)
        done = 0  # frames this call has computed
        if self._carried is None:
            left = self._keyframe(t)
            done += 1
            preview(left.image, done, planned)
        else:  # computed once, by the transition before, where it was the right end
            left = dataclasses.replace(self._carried, position=0.0, created=0)
        right = dataclasses.replace(
            self._keyframe(t + 1) if keys is None else keys[1], position=1.0, created=1
        )
        done += 1
        preview(right.image, done, planned)
        frames = [left, right]
        adaptive = self.blend.insertion == "adaptive"
        gaps = [self._distance(left, right)] if adaptive else []
        budget = self.blend.budget_seconds
        start = time.perf_counter()
        n, out_of_time = 0, False  # in-between frames made so far
        for k, count in level_runs(insertions):
            if out_of_time:
                break
            cost = (self.steps - k) * self.step_seconds  # one frame of this level
            if budget and cost:  # only the frames expected to fit the time left
                fit = max(0, int((budget - (time.perf_counter() - start)) / cost))
                out_of_time = fit < count
                count = min(count, fit)
            while count:
                # One wave: half the level's frames still to make (rounded up), no more than
                # there are gaps, shared out among the gaps before it starts (a very wide
                # gap may take several, evenly spaced, all branching off its two ends), so
                # they can share UNet calls (``branch_batch`` at a time) and the batch size
                # does not decide where they go; the next, smaller wave sees their distances
                # and goes where a jump is still left.
                widths = [b.position - a.position for a, b in pairwise(frames)]
                take = wave_size(count, len(widths))
                shares = share_gaps(gaps if adaptive else widths, widths, take)
                wave = [(i, j / (m + 1)) for i, m in enumerate(shares) for j in range(1, m + 1)]
                made: list[tuple[int, Frame]] = []
                for first in range(0, len(wave), self.branch_batch):
                    chunk = wave[first : first + self.branch_batch]
                    if budget and cost:  # the estimate may have grown since the level began
                        chunk = chunk[: int((budget - (time.perf_counter() - start)) / cost)]
                    if not chunk:
                        out_of_time, count = True, 0
                        break
                    triples = [(frames[i], frames[i + 1], w) for i, w in chunk]
                    children = self._branches(t, n, triples, k)
                    for child in children:
                        done += 1
                        preview(child.image, done, planned)
                    made += zip((i for i, _ in chunk), children, strict=True)
                    n += len(children)
                count = max(0, count - take)
                # Right to left, so the gap indices to the left still hold.
                for i in sorted({i for i, _ in made}, reverse=True):
                    kids = [child for g, child in made if g == i]  # made in prompt order
                    frames[i + 1 : i + 1] = kids
                    if adaptive:
                        row = frames[i : i + len(kids) + 2]
                        gaps[i : i + 1] = [self._distance(x, y) for x, y in pairwise(row)]
        self._carried = right
        return frames

    def keyframe(self, j: int) -> Frame:
        """Keyframe ``j`` made on its own (a scale-out worker's stage 0), as ``transition``
        makes it; refused with an inpainting guide, whose reference is keyframe 0's."""
        if self.inpaint is not None:
            raise ValueError("an inpainting blend makes its keyframes in order")
        return self._keyframe(j)

    def _keyframe(self, j: int) -> Frame:
        """Keyframe ``j``: its full trajectory from its own seeded noise, or its earlier
        twin's (``BlendPlan.keyframe_twins``)."""
        twin = self.plan.keyframe_twins[j]
        if twin != j:
            return dataclasses.replace(self._kept[twin])
        frame = self._compute_keyframe(j)
        if j in self._reused:
            self._kept[j] = frame
        return frame

    def _compute_keyframe(self, j: int) -> Frame:
        seed = self.plan.keyframe_seeds[j]
        noise = seeded_noise(self.latent_shape, [seed], self.device, self.dtype)
        text = with_negative(self.cond[j], self.uncond[j] if self.guided else None)
        # Without a reference image, the first keyframe is the reference: it runs unmasked,
        # and so does a looped movie's closing keyframe (the first again, the same frame).
        first = j == 0 or (self.plan.loop and j == len(self.plan.prompts) - 1)
        is_reference = self.inpaint is not None and not self.blend.inpaint_image and first
        masked = self.inpaint is not None and not is_reference
        trajectories = self._run(
            noise,
            0,
            text,
            self.guidance,
            torch.Generator().manual_seed(seed),
            feeds=None,
            masked=masked,
        )
        frame = self._finish([0.0], 0, 0, trajectories, masked=masked)[0]
        trajectory = frame.trajectory
        if is_reference and j == 0:
            self.inpaint.set_reference(trajectory, frame.image)
        return frame

    def _branches(
        self, t: int, n: int, triples: list[tuple[Frame, Frame, float]], k: int
    ) -> list[Frame]:
        """One frame per ``(a, b, w)`` at prompt position ``w`` of the way from ``a`` to ``b``,
        all branching at step ``k`` and denoised together in one batch; the ``i``-th is
        in-between frame ``n + i`` of transition ``t`` (its seed's index)."""
        starts, conds, unconds, guidances, generators, feeds = [], [], [], [], [], []
        positions = []
        for i, (a, b, w) in enumerate(triples):
            position = a.position + w * (b.position - a.position)
            positions.append(position)
            starts.append(slerp(a.trajectory[k], b.trajectory[k], w))
            conds.append(TextStates.mix(self.cond[t], self.cond[t + 1], position, self.mix))
            if self.guided:
                unconds.append(
                    TextStates.mix(self.uncond[t], self.uncond[t + 1], position, self.mix)
                )
            damp = self.blend.guidance_dampening * 4 * position * (1 - position)
            guidances.append(self.guidance * (1 - damp))
            # A seed of its own per branch, for stochastic (ancestral) schedulers.
            generators.append(
                torch.Generator().manual_seed(branch_seed(self.plan.keyframe_seeds[t], n + i))
            )
            # A soundtrack may scale this frame's crossfeed by its loudness (1 without one).
            feeds.append((a, b, w, self.plan.crossfeed_scale(t, position)))
        text = with_negative(
            TextStates.cat(conds), TextStates.cat(unconds) if self.guided else None
        )
        # One number for one branch; per row (B, 1, 1, 1) when they differ.
        guidance: float | torch.Tensor = guidances[0]
        if len(set(guidances)) > 1:
            guidance = torch.tensor(guidances, dtype=self.dtype, device=self.device)
            guidance = guidance.view(-1, 1, 1, 1)
        masked = self.inpaint is not None
        trajectories = self._run(
            torch.cat(starts),
            k,
            text,
            guidance,
            generators if len(triples) > 1 else generators[0],
            feeds=feeds if self.blend.crossfeed_power > 0 else None,
            masked=masked,
        )
        frames = self._finish(positions, self.level_of[k], k, trajectories, masked=masked)
        return [
            dataclasses.replace(frame, parents=(a, b), weight=w, created=n + i + 2)
            for i, (frame, (a, b, w)) in enumerate(zip(frames, triples, strict=True))
        ]

    # -- denoising -----------------------------------------------------------------------

    def _run(
        self,
        x: torch.Tensor,
        start: int,
        text: TextStates,
        guidance: float | torch.Tensor,
        generator: torch.Generator | list[torch.Generator],
        feeds: list[tuple[Frame, Frame, float, float]] | None,
        masked: bool,
    ) -> list[dict[int, torch.Tensor]]:
        """Denoise the B latents ``x`` (B, C, h, w), entering step ``start``, to the end in
        one batch (``studio.pipeline.denoise``).

        ``text``: B rows, or 2B ``[uncond; cond]`` with guidance; ``guidance``: one number
        or one per row (B, 1, 1, 1); ``generator``: one, or one per row.
        ``feeds``: per row ``(parent_a, parent_b, w, scale)`` for the parental crossfeed
        (``scale``: the factor of its power), or None.
        ``masked``: hold the inpainting mask's fixed region on the reference after each step.
        Returns each row's kept trajectory; counts one denoise step per latent and step.
        """
        began = time.perf_counter()
        b = self.blend
        rows = x.shape[0]
        fed_steps = round(b.crossfeed_range * (self.steps - start)) if feeds is not None else 0

        def after_step(i: int, x: torch.Tensor) -> torch.Tensor:
            own = i - start  # own steps taken so far
            if own <= fed_steps:
                pulled_rows = []
                for r, (a, c, w, scale) in enumerate(feeds):  # row by row: as one at a time
                    pull = b.crossfeed_power * scale * b.crossfeed_decay ** (own - 1)
                    parents = slerp(a.trajectory[i], c.trajectory[i], w)
                    pulled_rows.append(slerp(x[r : r + 1], parents, pull))
                x = torch.cat(pulled_rows)
            if masked and self.edit is None:
                x = self.inpaint.pull(x, i)
            return x

        pulled = masked and self.edit is None

        trajectory = denoise(
            self.pipe.unet,
            self.scheduler,
            self.steps,
            x,
            text,
            guidance,
            cancel=self.cancel,
            clock=self.clock,
            start=start,
            guidance_stop=self.guidance_stop,
            generator=generator,
            after_step=after_step if fed_steps or pulled else None,
            keep=self.keep,
            extras=self.extras,
            image=self._edit_image(masked, rows),
            reuse=self.fast,
            watch=self.watch,
        ).trajectory
        self.denoise_steps += rows * (self.steps - start)
        self._measure(time.perf_counter() - began, rows * (self.steps - start))
        if rows == 1:
            return [trajectory]
        return [{i: v[r : r + 1] for i, v in trajectory.items()} for r in range(rows)]

    def _edit_image(self, masked: bool, rows: int) -> torch.Tensor | None:
        """An inpainting model's extra channels for ``rows`` latents: the mask over the
        reference when ``masked``, else the whole frame masked; None for a plain UNet."""
        if self.edit is None:
            return None
        if masked not in self._edit_inputs:  # the reference is set before any masked run
            picture = None
            if masked:
                picture = torch.from_numpy(self.inpaint.image).permute(2, 0, 1).float() / 255
            self._edit_inputs[masked] = self.edit.condition(
                [picture], self.guided, self.device, self.dtype
            )
        one = self._edit_inputs[masked]  # one frame's rows: [cond] or [uncond; cond]
        if rows == 1:
            return one
        return torch.cat([row.expand(rows, -1, -1, -1) for row in one.split(1)])

    def _finish(
        self,
        positions: list[float],
        level: int,
        k: int,
        trajectories: list[dict[int, torch.Tensor]],
        masked: bool,
    ) -> list[Frame]:
        """Decode each trajectory's final latent (one at a time, as the frames were before
        branches were batched) into a ``Frame`` at its position."""
        began = time.perf_counter()
        frames = []
        for position, trajectory in zip(positions, trajectories, strict=True):
            latent = trajectory[self.steps]
            with self.clock.stage("vae"):
                image = decode(self.pipe, latent, self.clock)[0]
            if masked:
                image = self.inpaint.composite(image)
            frames.append(Frame(position, level, k, trajectory, latent, image))
        self._measure(time.perf_counter() - began, 0)
        return frames

    def _distance(self, a: Frame, b: Frame) -> float:
        with self.clock.stage("distance"):
            return self.distance(a, b)

    def _measure(self, seconds: float, steps: int) -> None:
        # Decoding is charged to the steps around it, so a budget estimate includes it.
        self._seconds_spent += seconds
        self._steps_timed += steps
        if self._steps_timed:
            self.step_seconds = self._seconds_spent / self._steps_timed
