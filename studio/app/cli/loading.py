"""Hand-written loading flags of the render commands: scheduler options and the custom
pipeline's opt-in.

``--scheduler-option KEY=VALUE`` (repeatable) adds to the spec's ``scheduler_kwargs``; a value
is read as a JSON scalar (``true``, ``2``, ``0.5``, ``"trailing"``), and a bare word that is
not JSON is taken as text (``timestep_spacing=trailing``). Whether the scheduler has the
option is checked with the spec, before any model loads (``check_scheduler_options``).

A custom pipeline runs code from wherever it names. The rule (docs/models.md#custom-pipelines):
it runs only when this command line asks for it. ``--custom-pipeline SOURCE`` sets it; a
``--spec`` file (one written by hand, exported, or from a pulled session) that sets one is
refused unless this command line names the same source with ``--custom-pipeline`` or passes
``--allow-custom-pipeline``; ``runs resume`` of such a run needs ``--allow-custom-pipeline``.
Whenever one is set the warning goes to stderr before anything loads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from studio.errors import SpecError
from studio.spec.common import DiffusionSettings
from studio.spec.loading import custom_pipeline_warning, parse_option

__all__ = [
    "add_allow_custom_pipeline",
    "add_loading_flags",
    "check_custom_pipeline",
    "extra_diffusion_values",
    "warn_custom_pipeline",
]


def add_loading_flags(command: argparse.ArgumentParser) -> None:
    """``--scheduler-option`` and ``--allow-custom-pipeline`` on a render command."""
    command.add_argument(
        "--scheduler-option",
        action="append",
        metavar="KEY=VALUE",
        default=None,
        help="an option of the scheduler's config, e.g. use_karras_sigmas=true or "
        "timestep_spacing=trailing (repeatable; values read as JSON, else as text)",
    )
    add_allow_custom_pipeline(command)


def add_allow_custom_pipeline(command: argparse.ArgumentParser) -> None:
    """``--allow-custom-pipeline``: run the custom pipeline a stored spec names."""
    command.add_argument(
        "--allow-custom-pipeline",
        action="store_true",
        default=None,
        help="run the custom pipeline (its Python code) that a --spec file or a stored run "
        "names; without it such a spec is refused",
    )


def extra_diffusion_values(d: DiffusionSettings, args: argparse.Namespace) -> dict[str, Any]:
    """The diffusion changes of the hand-written flags: ``scheduler_kwargs`` with each
    ``--scheduler-option`` added to ``d``'s. Also applies the custom pipeline rule to ``d``
    (the spec the command starts from)."""
    check_custom_pipeline(d, args)
    values: dict[str, Any] = {}
    source = getattr(args, "custom_pipeline", None)
    if source:
        values["custom_pipeline"] = _absolute(source)
    options = getattr(args, "scheduler_option", None)
    if options:
        values["scheduler_kwargs"] = {**d.scheduler_kwargs, **dict(map(parse_option, options))}
    return values


def _absolute(source: str) -> str:
    """A local pipeline file or folder made absolute (a stored spec is re-run from anywhere);
    a Hub id as given."""
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else source


def check_custom_pipeline(d: DiffusionSettings, args: argparse.Namespace) -> None:
    """``SpecError`` when ``--spec`` brings a custom pipeline this command line did not ask for."""
    stored = d.custom_pipeline
    if not stored or getattr(args, "spec", None) is None:
        return
    given = getattr(args, "custom_pipeline", None)
    if getattr(args, "allow_custom_pipeline", None) or (given and _absolute(given) == stored):
        return
    raise SpecError(
        f"the spec {args.spec} runs the custom pipeline {stored!r} (Python code); to run it, "
        f"add --custom-pipeline {stored} or --allow-custom-pipeline"
    )


def warn_custom_pipeline(d: DiffusionSettings) -> None:
    """Say on stderr that a custom pipeline is set, before anything loads."""
    if d.custom_pipeline:
        print(f"warning: {custom_pipeline_warning(d.custom_pipeline)}", file=sys.stderr)
