"""``prompts suggest``: a keyframed schedule proposed offline (``studio.pipeline.prompt_ideas``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    _Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["add_prompts_parser", "prompts"]


def add_prompts_parser(
    commands: _Subparsers, count: Callable[[int, int], Callable[[str], int]]
) -> None:
    """The ``prompts`` command group; ``count(low, high)`` is the parser's whole-number type."""
    from studio.pipeline.prompt_ideas import MAX_KEYFRAMES, TEXT_DTYPES
    from studio.spec import DEFAULT_MODEL

    group = commands.add_parser("prompts", help="prompt ideas, offline")
    actions = group.add_subparsers(dest="prompts_command", required=True, parser_class=type(group))
    suggest = actions.add_parser(
        "suggest",
        help="propose a keyframed schedule from a built-in model's words or a local text model",
    )
    suggest.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"the diffusion model the prompts are for; built-in ones bring their words "
        f"(default {DEFAULT_MODEL})",
    )
    suggest.add_argument(
        "--keyframes", type=count(1, MAX_KEYFRAMES), default=4, help="how many (default 4)"
    )
    suggest.add_argument(
        "--frames-per-keyframe",
        type=count(1, 100_000),
        default=12,
        help="frames from one keyframe to the next (default 12)",
    )
    suggest.add_argument(
        "--seed", type=count(0, 2**63 - 1), default=0, help="same seed, same ideas (default 0)"
    )
    suggest.add_argument(
        "--theme",
        default="",
        help="what it is about: a text model's topic; known colour and shape words start "
        "a built-in vocabulary's walk",
    )
    suggest.add_argument(
        "--text-model",
        type=Path,
        metavar="FOLDER",
        help="a local folder with a small causal language model and its tokenizer (offline)",
    )
    suggest.add_argument(
        "--text-dtype", choices=TEXT_DTYPES, default="float32", help="its weights' dtype"
    )
    suggest.add_argument("--device", default="cpu", help="where the text model runs (cpu)")
    suggest.add_argument(
        "--json",
        action="store_true",
        help='print {"schedule", "prompts", "frames", "source"}; without it, the schedule',
    )


def prompts(args: argparse.Namespace) -> int:
    """Print the proposed schedule (ready for ``animate --prompts-file``), or its JSON."""
    from studio.pipeline.prompt_ideas import suggest_schedule

    ideas = suggest_schedule(
        args.model,
        keyframes=args.keyframes,
        frames_per_keyframe=args.frames_per_keyframe,
        seed=args.seed,
        theme=args.theme,
        text_model=args.text_model,
        text_dtype=args.text_dtype,
        device=args.device,
    )
    if args.json:
        print(json.dumps(ideas.to_dict()))
    else:
        print(ideas.schedule, end="")
    return 0
