"""ControlNet options of ``animate``: ``--controlnet MODEL`` and the options paired with it.

Pairing rule (docs/cli.md): ``--controlnet`` may be repeated; the i-th control source
(``--control-image`` or ``--control-video``, counted together in the order given) goes with
the i-th ``--controlnet``, and there must be exactly one per ControlNet.
``--control-preprocess`` and ``--control-scale`` are either left out (every ControlNet takes
the default) or given once per ``--controlnet``, the i-th with the i-th. Any other count is a
one-line error before a run is recorded. ControlNets given on the command line replace those
of a ``--spec``.

The options' help is the ControlNet item's field descriptions (``studio.spec.control``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from studio.app.cli.generated import described, flag_help
from studio.errors import SpecError
from studio.spec.control import PREPROCESSORS, ControlNetItem, ControlSettings

__all__ = ["add_control_flags", "control_from_args"]


class _Source(argparse.Action):
    """Appends ``(field, path)`` to one list, so images and videos keep their common order."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        sources = list(getattr(namespace, self.dest, None) or [])
        sources.append((self.const, str(values)))
        setattr(namespace, self.dest, sources)


def add_control_flags(command: argparse.ArgumentParser) -> None:
    """The ControlNet options (module docstring) on ``command``."""
    paired = " Repeatable: once per --controlnet, in the same order."
    command.add_argument(
        "--controlnet",
        dest="control_models",
        action="append",
        metavar="MODEL",
        help=flag_help(described(ControlNetItem, "model")) + " Repeatable (MultiControlNet).",
    )
    for name in ("image", "video"):
        command.add_argument(
            f"--control-{name}",
            dest="control_sources",
            action=_Source,
            const=name,
            metavar="FILE",
            help=flag_help(described(ControlNetItem, name))
            + " Each --controlnet takes one control image or video, in order.",
        )
    command.add_argument(
        "--control-preprocess",
        dest="control_preprocess",
        action="append",
        choices=PREPROCESSORS,
        help=flag_help(described(ControlNetItem, "preprocess")) + paired,
    )
    command.add_argument(
        "--control-scale",
        dest="control_scale",
        action="append",
        metavar="CURVE",
        help=flag_help(described(ControlNetItem, "scale")) + paired,
    )


def control_from_args(control: ControlSettings, args: argparse.Namespace) -> ControlSettings:
    """``control`` (from ``--spec``, or none), replaced by the ControlNets the flags give.

    Raises ``SpecError`` naming the option whose count does not match ``--controlnet``'s.
    """
    models: list[str] = getattr(args, "control_models", None) or []
    sources: list[tuple[str, str]] = getattr(args, "control_sources", None) or []
    preprocess: list[str] = getattr(args, "control_preprocess", None) or []
    scales: list[str] = getattr(args, "control_scale", None) or []
    if not models:
        given = [
            flag
            for flag, values in (
                ("--control-image/--control-video", sources),
                ("--control-preprocess", preprocess),
                ("--control-scale", scales),
            )
            if values
        ]
        if given:
            raise SpecError(f"{given[0]} belongs to a ControlNet; give --controlnet MODEL first")
        return control
    n = len(models)
    if len(sources) != n:
        raise SpecError(
            f"--controlnet is given {_times(n)} but --control-image/--control-video "
            f"{_times(len(sources))}; give one control image or video per --controlnet, in the "
            "same order"
        )
    for flag, values in (("--control-preprocess", preprocess), ("--control-scale", scales)):
        if values and len(values) != n:
            raise SpecError(
                f"--controlnet is given {_times(n)} but {flag} {_times(len(values))}; give "
                f"{flag} once per --controlnet, in the same order, or leave it out"
            )
    nets = []
    for i, model in enumerate(models):
        kind, path = sources[i]
        values: dict[str, Any] = {"model": _model_ref(model), kind: _absolute(path)}
        if preprocess:
            values["preprocess"] = preprocess[i]
        if scales:
            values["scale"] = scales[i]
        nets.append(ControlNetItem(**values))
    return control.replace(nets=tuple(nets))


def _times(count: int) -> str:
    return "1 time" if count == 1 else f"{count} times"


def _absolute(path: str) -> str:
    """A path made absolute, so a stored spec finds the file when re-run from elsewhere."""
    return str(Path(path).expanduser().resolve())


def _model_ref(ref: str) -> str:
    """A ControlNet folder made absolute; a Hub id (no such path) as it is."""
    path = Path(ref).expanduser()
    return str(path.resolve()) if path.exists() else ref
