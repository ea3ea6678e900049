"""Schedulers by name: the one table of names a spec may use, and a per-run scheduler.

``studio.spec.common.SCHEDULER_CLASSES`` maps each name a spec may use to its diffusers class
and the config it adds (one table, plain data, next to the spec's other choices). This
module imports diffusers only inside ``make_scheduler``: the spec (and the dashboard that
draws its forms) stays light.

A cached pipeline is shared between renders, so its scheduler is never stepped: every render
builds its own with ``make_scheduler`` (``from_config`` of ``pipe.scheduler.config``), and
every denoising loop steps a copy of that (``studio.pipeline.denoise``).
"""

from __future__ import annotations

import difflib
import inspect
from typing import TYPE_CHECKING, Any

from studio.errors import SpecError
from studio.spec.common import BLEND_SCHEDULERS, SCHEDULER_CLASSES
from studio.spec.common import SCHEDULERS as SPEC_SCHEDULERS

if TYPE_CHECKING:
    from studio.pipeline.models import Pipeline

__all__ = [
    "BLEND_SCHEDULER_NAMES",
    "SCHEDULERS",
    "SCHEDULER_NAMES",
    "Scheduler",
    "check_scheduler_options",
    "make_scheduler",
    "scheduler_options",
]

# A diffusers scheduler (a ``SchedulerMixin`` subclass). ``Any``: what the loop calls on it
# (``set_timesteps``, ``step``, ``timesteps``, ``order``...) each class defines for itself, and
# ``SchedulerMixin`` declares none of it.
Scheduler = Any

# The table lives with the spec's choices (plain data); the names a blend may use too.
SCHEDULERS = SCHEDULER_CLASSES
SCHEDULER_NAMES: tuple[str, ...] = SPEC_SCHEDULERS
BLEND_SCHEDULER_NAMES: tuple[str, ...] = BLEND_SCHEDULERS


def make_scheduler(pipe: Pipeline, name: str, kwargs: dict[str, Any] | None = None) -> Scheduler:
    """A new scheduler of kind ``name`` built ``from_config`` of the pipeline's own scheduler.

    ``kwargs`` override config entries (a spec's ``scheduler_kwargs``). Raises ``SpecError``
    for an unknown name, bad options, or a scheduler that cannot follow the model's
    zero-terminal-SNR noise schedule.
    """
    import diffusers

    if name not in SCHEDULERS:
        raise SpecError(f"unknown scheduler {name!r}; choose one of {', '.join(SCHEDULERS)}")
    class_name, extra = SCHEDULERS[name]
    cls = getattr(diffusers, class_name)
    if pipe.scheduler.config.get("rescale_betas_zero_snr") and not _supports_zero_snr(cls):
        # It would silently sample on a different noise schedule than the model learnt.
        usable = [
            n for n, (c, _) in SCHEDULERS.items() if _supports_zero_snr(getattr(diffusers, c))
        ]
        raise SpecError(
            f"scheduler {name!r} cannot follow this model's zero-terminal-SNR noise schedule; "
            f"use one of {', '.join(usable)}"
        )
    try:
        return cls.from_config(pipe.scheduler.config, **{**extra, **(kwargs or {})})
    except TypeError as exc:
        raise SpecError(f"bad scheduler options for {name!r}: {exc}") from None


def _supports_zero_snr(cls: type) -> bool:
    return "rescale_betas_zero_snr" in inspect.signature(cls.__init__).parameters


# Parameters of a scheduler's __init__ that are not options a user can give.
_NOT_OPTIONS = ("self", "kwargs", "trained_betas")


def scheduler_options(name: str) -> dict[str, Any]:
    """The options scheduler ``name`` takes: its class's ``__init__`` parameters with their
    defaults (``inspect.signature``), in order. Imports diffusers."""
    import diffusers

    cls = getattr(diffusers, SCHEDULERS[name][0])
    params = inspect.signature(cls.__init__).parameters
    return {
        p.name: p.default
        for p in params.values()
        if p.name not in _NOT_OPTIONS and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }


def check_scheduler_options(name: str, kwargs: dict[str, Any]) -> None:
    """``SpecError`` for an option scheduler ``name`` does not take (naming the close ones)
    or a value of the wrong type, told from the option's default: a switch takes true or
    false, a number a number, a word a word. Called before any model loads."""
    if name not in SCHEDULERS or not kwargs:
        return
    known = scheduler_options(name)
    for key, value in kwargs.items():
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
            hint = (
                f"did you mean {' or '.join(close)}?"
                if close
                else f"its options: {', '.join(known)}"
            )
            raise SpecError(f"scheduler {name!r} has no option {key!r}; {hint}")
        wrong = _wrong_type(known[key], value)
        if wrong:
            raise SpecError(f"scheduler option {key} must be {wrong}, got {value!r}")


def _wrong_type(default: Any, value: Any) -> str:
    """What ``value`` should be, judged by the parameter's ``default``; '' when it fits or
    cannot be told (a default of None takes several types)."""
    if isinstance(default, bool):
        return "" if isinstance(value, bool) else "true or false"
    if isinstance(default, int | float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if isinstance(default, int) and isinstance(value, float) and not value.is_integer():
            ok = False
        return "" if ok else ("a whole number" if isinstance(default, int) else "a number")
    if isinstance(default, str):
        return "" if isinstance(value, str) else 'a word in quotes, e.g. "linspace"'
    return ""
