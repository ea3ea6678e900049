"""Render specs: one versioned, JSON-serialisable description per kind of render.

A spec is what the dashboard builds from its widgets, what the CLI builds from its flags or
reads from ``--spec file.json``, what the store keeps, and what "re-run" executes. The round
trip ``spec -> to_json() -> load_spec() -> spec`` is exact.

Settings are grouped (prompts, diffusion, animation, output) so that a later "restore
settings" can bring back one group without the others.

Older ``schema_version`` values are upgraded on load by the functions in ``_UPGRADES``.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from studio.errors import SpecError

__all__ = [
    "DEFAULT_MODEL",
    "SCHEMA_VERSION",
    "SCHEDULERS",
    "AnimationSettings",
    "AnimationSpec",
    "DiffusionSettings",
    "OutputSettings",
    "PromptSettings",
    "diff_specs",
    "load_spec",
]

SCHEMA_VERSION = 1
DEFAULT_MODEL = "builtin:shapes"

# Names the user may pick; studio.models maps each to a diffusers scheduler class.
SCHEDULERS = ("ddim", "euler", "euler_a", "dpm++", "pndm", "lms", "heun", "unipc")

Interpolation = Literal["slerp", "lerp"]
Easing = Literal["linear", "sine", "curve"]
LatentMode = Literal["keyframe", "fixed"]
OutputFormat = Literal["mp4", "gif", "png"]


@dataclass(frozen=True)
class PromptSettings:
    """What to draw: the keyframed schedule and the default negative prompt."""

    schedule: str = "0: a red circle on a black background\n24: a blue square on a black background"
    negative_prompt: str = ""


@dataclass(frozen=True)
class DiffusionSettings:
    """How each frame is denoised, and on what."""

    model: str = DEFAULT_MODEL
    scheduler: str = "ddim"
    scheduler_kwargs: dict[str, Any] = field(default_factory=dict)
    steps: int = 20
    guidance: float = 7.5
    width: int = 128  # builtin:shapes' native size; the CLI and pages use the model's own
    height: int = 128
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"  # auto | float32 | float16 | bfloat16
    attention_slicing: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: bool = False


@dataclass(frozen=True)
class AnimationSettings:
    """How frames between keyframes are made."""

    fps: int = 12
    interpolation: Interpolation = "slerp"  # of text embeddings; latents always slerp
    easing: Easing = "linear"
    sine_frequencies: tuple[float, ...] = (1.0,)
    easing_curve: str = ""  # curve language; used when easing == "curve"
    latents: LatentMode = "keyframe"  # a seeded latent per keyframe, or one fixed latent
    batch_size: int = 1


@dataclass(frozen=True)
class OutputSettings:
    """What file the frames stream into."""

    format: OutputFormat = "mp4"


@dataclass(frozen=True)
class AnimationSpec:
    """A keyframed prompt animation (``kind == "animation"``)."""

    kind: ClassVar[str] = "animation"

    prompts: PromptSettings = field(default_factory=PromptSettings)
    diffusion: DiffusionSettings = field(default_factory=DiffusionSettings)
    animation: AnimationSettings = field(default_factory=AnimationSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    schema_version: int = SCHEMA_VERSION

    # -- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["animation"]["sine_frequencies"] = list(self.animation.sine_frequencies)
        return {"kind": self.kind, **data}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnimationSpec:
        return load_spec(data)  # type: ignore[return-value]

    def replace(self, **groups: Any) -> AnimationSpec:
        """A copy with whole groups replaced, e.g. ``spec.replace(diffusion=...)``."""
        return dataclasses.replace(self, **groups)

    # -- validation ----------------------------------------------------------------------

    def check(self) -> None:
        """Raise ``SpecError`` (or ``ScheduleError``/``CurveError``) naming the bad value."""
        d, a = self.diffusion, self.animation
        for name in ("width", "height"):
            value = getattr(d, name)
            if value <= 0 or value % 8:
                raise SpecError(f"{name} must be a positive multiple of 8, got {value}")
            if value > 4096:
                raise SpecError(f"{name} must be at most 4096, got {value}")
        if not 1 <= d.steps <= 1000:
            raise SpecError(f"steps must be between 1 and 1000, got {d.steps}")
        if not 0 <= d.guidance <= 50:
            raise SpecError(f"guidance must be between 0 and 50, got {d.guidance}")
        if d.scheduler not in SCHEDULERS:
            raise SpecError(
                f"unknown scheduler {d.scheduler!r}; choose one of {', '.join(SCHEDULERS)}"
            )
        if not 0 <= d.seed < 2**63:
            raise SpecError(f"seed must be between 0 and 2**63 - 1, got {d.seed}")
        if d.dtype not in ("auto", "float32", "float16", "bfloat16"):
            raise SpecError(f"dtype must be auto, float32, float16 or bfloat16, got {d.dtype!r}")
        if not 1 <= a.fps <= 120:
            raise SpecError(f"fps must be between 1 and 120, got {a.fps}")
        if self.output.format == "gif" and a.fps > 50:
            # GIF frame delays are whole hundredths of a second; browsers slow shorter ones.
            raise SpecError(f"GIF output plays at most 50 fps, got {a.fps}; use mp4 for more")
        if not 1 <= a.batch_size <= 256:
            raise SpecError(f"batch size must be between 1 and 256, got {a.batch_size}")
        if a.easing == "sine" and (
            not a.sine_frequencies or any(not 0 < f <= 100 for f in a.sine_frequencies)
        ):
            raise SpecError(
                f"sine easing needs frequencies between 0 and 100, got {list(a.sine_frequencies)}"
            )
        if a.easing == "curve" and not a.easing_curve.strip():
            raise SpecError("easing 'curve' needs an easing curve, e.g. '0: (s**2)'")
        # Parsing is the check for the two languages; imported here to keep this module light.
        from studio.curves import parse_curve
        from studio.schedule import parse_schedule

        parse_schedule(self.prompts.schedule)
        if a.easing == "curve":
            parse_curve(a.easing_curve, names=("t", "s"))


_KINDS: dict[str, type] = {"animation": AnimationSpec}

# kind -> {from_version: function(dict) -> dict at from_version + 1}
_UPGRADES: dict[str, dict[int, typing.Callable[[dict], dict]]] = {"animation": {}}


def load_spec(data: dict[str, Any] | str) -> AnimationSpec:
    """Build a spec from its dict or JSON text, upgrading older schema versions.

    Raises ``SpecError`` naming the first unknown key, wrong type or bad version.
    """
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise SpecError(f"spec is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"spec must be a JSON object, got {type(data).__name__}")
    data = dict(data)
    kind = data.pop("kind", "animation")
    if kind not in _KINDS:
        raise SpecError(f"unknown spec kind {kind!r}; known kinds: {', '.join(_KINDS)}")
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SpecError(f"schema_version must be a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise SpecError(
            f"spec schema_version {version} is newer than this studio understands "
            f"({SCHEMA_VERSION}); upgrade Latent Studio"
        )
    while version < SCHEMA_VERSION:
        data = _UPGRADES[kind][version](data)
        version += 1
    data["schema_version"] = version
    return _build(_KINDS[kind], data, kind)


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise SpecError(f"{path} must be an object, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise SpecError(f"unknown setting {path}.{unknown[0]}")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in data.items():
        values[name] = _coerce(hints[name], value, f"{path}.{name}")
    return cls(**values)


def _coerce(hint: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path)
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise SpecError(f"{path} must be one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    if origin is tuple:
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        if not isinstance(value, list | tuple):
            raise SpecError(f"{path} must be a list, got {value!r}")
        return tuple(_coerce(item, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise SpecError(f"{path} must be an object, got {value!r}")
        return dict(value)
    if origin in (types.UnionType, typing.Union):
        raise SpecError(f"{path}: unsupported type {hint}")  # no unions in specs yet
    if hint is bool:
        if not isinstance(value, bool):
            raise SpecError(f"{path} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{path} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(f"{path} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise SpecError(f"{path} must be text, got {value!r}")
        return value
    raise SpecError(f"{path}: unsupported type {hint}")


def diff_specs(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """Settings that differ between two spec dicts: ``(dotted.path, value_a, value_b)``.

    A key missing on one side shows as ``None`` there. Paths are sorted, so the same two
    specs always give the same list.
    """
    flat_a, flat_b = _flatten(a), _flatten(b)
    return [
        (path, flat_a.get(path), flat_b.get(path))
        for path in sorted(set(flat_a) | set(flat_b))
        if flat_a.get(path) != flat_b.get(path)
    ]


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, path + "."))
        else:
            flat[path] = value
    return flat
