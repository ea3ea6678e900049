"""What every spec kind shares: the base models, the diffusion settings and their checks.

Settings groups are frozen pydantic models that refuse unknown keys; each field is described
once with ``studio.spec.fields.setting``. A spec kind (``SpecBase``) is a frozen model of
groups plus a ``schema_version``, with a class-level ``kind``. Its JSON is ``to_dict()``:
``kind`` first, then the groups in declaration order, tuples as lists, exactly as stored
runs and Hub manifests hold it.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from studio.errors import NegativePromptError, SpecError
from studio.languages.brackets import unmatched_bracket
from studio.languages.schedule import MAX_PROMPT_LENGTH
from studio.spec.fields import check_ranges, setting, spec_error
from studio.spec.loading import (
    CUSTOM_PIPELINE_FIELD,
    MEMORY_FIELD,
    REVISION_FIELD,
    VARIANT_FIELD,
    MemoryMode,
    check_loading,
)
from studio.spec.scale import RAY_ADDRESS_FIELD, WORKERS_FIELD, check_scale
from studio.spec.speed import COMPILE_FIELD, FAST_FIELD, CompileMode
from studio.spec.versions import SCHEMA_VERSION, upgrade

__all__ = [
    "BLEND_PRESETS",
    "BLEND_SCHEDULERS",
    "DEFAULT_MODEL",
    "DTYPES",
    "SCHEDULERS",
    "INTERPOLATE_FPS_FIELD",
    "INTERPOLATE_METHOD_FIELD",
    "INTERPOLATOR_FIELD",
    "DiffusionSettings",
    "SettingsModel",
    "SpecBase",
    "build_spec",
    "check_diffusion",
    "check_interpolation",
    "check_negative_prompt",
    "schema_version_field",
]

DEFAULT_MODEL = "builtin:shapes"

# The one table of schedulers: name in a spec -> (diffusers class name, config it adds to the
# model's scheduler config). Plain data, so the spec stays light; studio.pipeline.schedulers
# builds the classes from it.
SCHEDULER_CLASSES: dict[str, tuple[str, dict[str, Any]]] = {
    "ddim": ("DDIMScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpm++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    "lms": ("LMSDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}),
}
# Names the user may pick, in the order forms list them.
SCHEDULERS: tuple[str, ...] = tuple(SCHEDULER_CLASSES)
# A blend branch starts a fresh scheduler part-way through the schedule. These restart
# cleanly there (multistep ones warm up again at first order); PNDM and Heun repeat
# timesteps, and LMS weights a history the fresh scheduler does not have.
BLEND_SCHEDULERS = ("ddim", "euler", "euler_a", "dpm++", "unipc")
# Preset -> diffusion frames per transition (both keyframes included); see studio.blend.tree.
BLEND_PRESETS = {"lowest": 5, "low": 9, "medium": 17, "high": 25, "ultra": 41}
DTYPES = ("auto", "float32", "float16", "bfloat16")

Interpolation = Literal["slerp", "lerp"]
OutputFormat = Literal["mp4", "gif", "png"]
InterpolateMethod = Literal["flow", "crossfade", "learned"]

# The output group of every render kind: a higher frame rate made on the way to the file
# (studio.media.retime). Rendered frames are checkpointed; the in-between ones are made again
# on resume.
INTERPOLATE_FPS_FIELD: Any = setting(
    0,
    "Frames per second of the file, made by interpolating between the rendered frames "
    "(more than the render's fps, at most 120); 0: the rendered frames as they are.",
    label="interpolate to fps",
    ge=0,
    le=120,
    step=1,
    zero_means="off",
    flag="--interpolate-to",
)
INTERPOLATE_METHOD_FIELD: Any = setting(
    "flow",
    "How interpolated frames are made: flow (motion-compensated, from dense optical flow "
    "both ways), crossfade (pixel mix of the two neighbours) or learned (a RIFE-style "
    "network on the interpolator weights you give).",
    label="interpolation method",
)
INTERPOLATOR_FIELD: Any = setting(
    "",
    "The learned method's weights: a RIFE v4.22-v4.26 flownet state dict (.pkl, .pth or "
    ".safetensors, or the folder holding flownet.pkl); the studio ships none.",
    label="interpolator weights",
    widget="file",  # a path: the CLI stores it absolute
    flag="--interpolator",
)


def _group_hint(schema: dict[str, Any], cls: type) -> None:
    """The settings group of a group model, in its JSON Schema (``x-studio.group``)."""
    group = getattr(cls, "group", None)
    if group is not None:
        schema["x-studio"] = {"group": group}


class SettingsModel(BaseModel):
    """A frozen group of settings (or an item of one) that refuses unknown keys.

    Building one with a value of the wrong type raises pydantic's ``ValidationError`` (a
    ``ValueError``); ``replace`` and ``load_spec`` raise ``SpecError`` naming the field.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_group_hint)

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (checked like a new model), e.g. ``d.replace(steps=30)``."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        try:
            return type(self).model_validate({**values, **changes})
        except ValidationError as exc:
            raise spec_error(exc, type(self)) from None


class SpecBase(SettingsModel):
    """Serialisation shared by every spec kind; ``replace(**groups)`` swaps whole groups."""

    kind: ClassVar[str]
    # Each kind declares ``schema_version: StrictInt = schema_version_field()`` last, where
    # today's JSON has it (pydantic would put a field declared here first).

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: tuples become lists, so ``to_dict()`` equals ``json.loads(to_json())``."""
        return {"kind": self.kind, **_plain(self.model_dump())}

    def to_json(self, indent: int | None = 2) -> str:
        """The spec as JSON text, keys in the order of ``to_dict()``."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build a spec of this kind from its dict (upgrading older versions); ``SpecError``."""
        if not isinstance(data, dict):
            raise SpecError(f"spec must be a JSON object, got {type(data).__name__}")
        kind = data.get("kind", "animation")
        if kind != cls.kind:
            raise SpecError(f"expected a spec of kind {cls.kind!r}, got kind {kind!r}")
        return build_spec(cls, data)


S = TypeVar("S", bound="SpecBase")


def build_spec(cls: type[S], data: dict[str, Any]) -> S:
    """A spec of kind ``cls`` from ``data`` (its ``kind`` key, if any, is ignored).

    Upgrades older schema versions; raises ``SpecError`` naming the first unknown key,
    wrong type or bad version, with the kind as the first part of the path.
    """
    data = {k: v for k, v in data.items() if k != "kind"}
    data = upgrade(cls.kind, data)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise spec_error(exc, cls, cls.kind) from None


def schema_version_field() -> Any:
    """The ``schema_version`` field every spec kind declares last."""
    return setting(
        SCHEMA_VERSION, "Version of the spec's layout; older ones are upgraded on load.", flag=None
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class DiffusionSettings(SettingsModel):
    """How each frame is denoised, and on what."""

    group: ClassVar[str] = "diffusion"

    model: StrictStr = setting(
        DEFAULT_MODEL,
        "Where the weights come from: builtin:tiny, builtin:shapes, a diffusers folder, "
        "a .safetensors file or a Hub id.",
    )
    scheduler: StrictStr = setting(
        "ddim",
        "The sampler that owns each denoise step (a blend allows fewer: those that can "
        "start part-way through the schedule).",
        choices=SCHEDULERS,
        widget="select",
    )
    scheduler_kwargs: dict[StrictStr, Any] = setting(
        {}, "Extra options for the scheduler's config, e.g. use_karras_sigmas.", flag=None
    )
    steps: StrictInt = setting(20, "Denoise steps per frame.", ge=1, le=1000, step=1)
    guidance: StrictFloat = setting(
        3.0,  # builtin:shapes' best; the CLI and pages use the model's own
        "Classifier-free guidance scale; the CLI and pages default to the model's own.",
        ge=0,
        le=50,
        step=0.5,
        format="%.1f",
    )
    guidance_stop: StrictFloat = setting(
        0.2,
        "Share of the noise schedule, at its clean end, whose steps skip classifier-free "
        "guidance (one UNet batch instead of two); 0 guides every step. builtin:shapes' 0.2 "
        "leaves out t < 200 of 1000.",
        label="guidance stop",
        ge=0,
        lt=1,
        step=0.05,
        format="%.2f",
    )
    width: StrictInt = setting(
        128,  # builtin:shapes' native size; the CLI and pages use the model's own
        "Frame width in pixels; the CLI and pages default to the model's native size.",
        gt=0,
        le=4096,
        multiple_of=8,
        step=8,
    )
    height: StrictInt = setting(
        128,
        "Frame height in pixels; the CLI and pages default to the model's native size.",
        gt=0,
        le=4096,
        multiple_of=8,
        step=8,
    )
    seed: StrictInt = setting(0, "Base random seed.", ge=0, le=2**63 - 1, step=1)
    device: StrictStr = setting("auto", "Where to run: auto, cpu, cuda, cuda:N or mps.")
    dtype: StrictStr = setting(
        "auto", "Weights' number type: auto, float32, float16 or bfloat16.", choices=DTYPES
    )
    attention_slicing: StrictBool = setting(
        False, "Compute attention in slices: less memory, a little slower."
    )
    vae_slicing: StrictBool = setting(False, "Decode a batch one frame at a time: less memory.")
    vae_tiling: StrictBool = setting(False, "Decode in tiles: large frames in less memory.")
    cpu_offload: StrictBool = setting(
        False, "Keep model parts on the CPU until needed: least memory, slowest."
    )
    # Loading options (docs/models.md#loading-options): studio.spec.loading describes them.
    memory: MemoryMode = MEMORY_FIELD
    variant: StrictStr = VARIANT_FIELD
    revision: StrictStr = REVISION_FIELD
    custom_pipeline: StrictStr = CUSTOM_PIPELINE_FIELD
    # Speed paths (docs/models.md#gpu-paths): studio.spec.speed describes them.
    compile: CompileMode = COMPILE_FIELD
    fast: StrictBool = FAST_FIELD
    # Scale-out on Ray (docs/scale-out.md): studio.spec.scale describes them.
    workers: StrictInt = WORKERS_FIELD
    ray_address: StrictStr = RAY_ADDRESS_FIELD
    # Live previews (studio.pipeline.preview): never the output frames.
    preview: StrictStr = setting(
        "auto",
        "How live previews of the frames being denoised are drawn (never the output): auto, "
        "tiny (a small trained decoder), linear (a latent colour map), vae, off, or a folder "
        "holding an AutoencoderTiny (taesd).",
        label="preview decoder",
    )
    preview_seconds: StrictFloat = setting(
        1.0,
        "At most one live preview per this many seconds while frames are denoised; 0: one "
        "after every step.",
        label="preview every",
        unit="seconds",
        ge=0,
        le=3600,
        step=0.5,
        format="%.1f",
        zero_means="every step",
    )


def check_diffusion(d: DiffusionSettings, schedulers: tuple[str, ...] = SCHEDULERS) -> None:
    """Ranges and choices of the diffusion group; ``schedulers``: those this kind can use."""
    check_ranges(d)
    if d.scheduler not in SCHEDULERS:
        raise SpecError(f"unknown scheduler {d.scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
    if d.scheduler not in schedulers:
        raise SpecError(
            f"scheduler {d.scheduler!r} cannot start part-way through its schedule, as blend "
            f"branches do; choose one of {', '.join(schedulers)}"
        )
    if d.dtype not in DTYPES:
        raise SpecError(f"dtype must be auto, float32, float16 or bfloat16, got {d.dtype!r}")
    check_loading(d)
    check_scale(d)
    if not d.preview or d.preview != d.preview.strip():
        raise SpecError(
            f"preview must be auto, tiny, linear, vae, off or a taesd folder, got {d.preview!r}"
        )


def check_interpolation(
    fps: int, interpolate_fps: int, fmt: str, method: str = "flow", interpolator: str = ""
) -> None:
    """The output group's ``interpolate_fps`` against the render's ``fps`` and format, and
    the learned method against its weights (named, not opened: the render kind's inputs
    check reads them)."""
    if method == "learned" and not interpolator.strip():
        raise SpecError(
            "interpolation method 'learned' needs its weights: give --interpolator PATH (a "
            "RIFE v4.22-v4.26 flownet.pkl, .pth or .safetensors; the studio ships none), or "
            "choose flow"
        )
    if interpolator and method != "learned":
        raise SpecError(
            f"interpolator weights {interpolator!r} are used by the learned method only; give "
            "--interpolate-method learned or leave the weights out"
        )
    if interpolate_fps == 0:
        return
    if not fps < interpolate_fps <= 120:
        raise SpecError(
            f"interpolate to {interpolate_fps} fps must be more than the render's {fps} fps "
            "and at most 120 (or 0 = off)"
        )
    if fmt == "gif" and interpolate_fps > 50:
        raise SpecError(
            f"GIF output plays at most 50 fps, got interpolate to {interpolate_fps}; use mp4"
        )


def check_negative_prompt(text: str) -> None:
    """``NegativePromptError`` at the first bracket of ``text`` without its partner, or at its
    start when it is over ``MAX_PROMPT_LENGTH`` characters."""
    if len(text) > MAX_PROMPT_LENGTH:
        raise NegativePromptError(
            f"the negative prompt is {len(text):,} characters long; the limit is "
            f"{MAX_PROMPT_LENGTH:,}",
            1,
            1,
        )
    found = unmatched_bracket(text)
    if found is not None:
        offset, reason = found
        before = text[:offset]
        line_start = before.rfind("\n") + 1
        raise NegativePromptError(reason, before.count("\n") + 1, offset - line_start + 1)
