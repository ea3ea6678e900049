"""Prompt ideas offline: keyframed schedules proposed from what a model knows.

Two sources, neither touching the network:

- a built-in model's vocabulary (``suggest_schedule(model="builtin:shapes")``): captions in
  the grammar ``builtin:shapes`` learnt (``studio.pipeline.shapes_words``; every word is
  also one token of ``builtin:tiny``'s tokenizer, ``studio.pipeline.vocab.WORDS``). The
  first keyframe draws a whole scene; each next one changes one or two of its attributes
  (colour, shape, size, background, place), so the animation walks rather than jumps. A
  seeded ``random.Random`` makes the same arguments give the same schedule.
- a small causal language model in a local folder (``text_model=FOLDER``, loaded with
  ``AutoModelForCausalLM`` / ``AutoTokenizer``, ``local_files_only``, the dtype given): a
  numbered-list prompt template is continued one keyframe at a time, each continuation cut
  at its first line break and cleaned to plain words, and the whole schedule is read back by
  ``parse_schedule``. Sampling (top-k) draws from its own seeded ``torch.Generator``, so
  the caller's random state is untouched.

Other models have no vocabulary here, and without ``text_model`` they are refused with a
message saying how to give one.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.errors import ModelLoadError, SpecError
from studio.languages.schedule import (
    MAX_FRAME,
    Keyframe,
    PromptSchedule,
    format_schedule,
    parse_schedule,
)
from studio.pipeline import shapes_words
from studio.pipeline.builtin import BUILTIN_MODELS

__all__ = ["MAX_KEYFRAMES", "TEXT_DTYPES", "PromptIdeas", "suggest_schedule"]

MAX_KEYFRAMES = 100
TEXT_DTYPES = ("float32", "bfloat16", "float16")
_MAX_PROMPT_WORDS = 24  # a text model's line is cut here: a prompt, not a paragraph
_TRIES = 4  # samples per keyframe before an empty continuation is an error
_TOP_K = 50  # a text model samples among its likeliest tokens
_CONTEXT_LINES = 3  # earlier prompts a text model sees
_ATTRIBUTES = ("colour", "shape", "size", "background", "place")


@dataclass(frozen=True)
class PromptIdeas:
    """A proposed schedule: ``schedule`` is its text (``parse_schedule`` reads it),
    ``prompts`` and ``frames`` its keyframes, ``source`` where the words came from
    (``vocabulary of builtin:shapes`` or ``text model FOLDER``)."""

    schedule: str
    prompts: list[str]
    frames: list[int]
    source: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "prompts": list(self.prompts),
            "frames": list(self.frames),
            "source": self.source,
            "notes": list(self.notes),
        }


def suggest_schedule(
    model: str = "builtin:shapes",
    *,
    keyframes: int = 4,
    frames_per_keyframe: int = 12,
    seed: int = 0,
    theme: str = "",
    text_model: str | Path | None = None,
    text_dtype: str = "float32",
    device: str = "cpu",
) -> PromptIdeas:
    """Propose a schedule of ``keyframes`` prompts, ``frames_per_keyframe`` frames apart.

    Args:
        model: the diffusion model the prompts are for; a built-in one brings its
            vocabulary. Ignored for the words when ``text_model`` is given.
        keyframes: 1 to ``MAX_KEYFRAMES``.
        frames_per_keyframe: frames from one keyframe to the next (1 or more; the last
            keyframe must stay within ``MAX_FRAME``).
        seed: same arguments and seed, same schedule.
        theme: for a text model, what the animation is about (put into its prompt); for a
            vocabulary, its known colour and shape words start the walk.
        text_model: a local folder with a causal language model and its tokenizer.
        text_dtype: the text model's weights' dtype, one of ``TEXT_DTYPES``.
        device: where the text model runs (``cpu``, ``cuda``, ...).

    Raises ``SpecError`` for a bad argument or a model without a vocabulary (and no
    ``text_model``), ``ModelLoadError`` when the folder holds no loadable model.
    """
    _check(keyframes, frames_per_keyframe, seed, text_dtype)
    frames = [i * frames_per_keyframe for i in range(keyframes)]
    if text_model is not None:
        prompts = _from_text_model(Path(text_model), keyframes, seed, theme, text_dtype, device)
        source = f"text model {text_model}"
    else:
        name = model.removeprefix("builtin:")
        if not model.startswith("builtin:") or name not in BUILTIN_MODELS:
            known = ", ".join(f"builtin:{n}" for n in BUILTIN_MODELS)
            raise SpecError(
                f"{model} has no vocabulary to draw prompt ideas from (only {known} do); "
                "give a local text-generation model folder (--text-model FOLDER; on the "
                "dashboard, Text model folder)"
            )
        prompts = _from_vocabulary(keyframes, seed, theme)
        source = f"vocabulary of {model}"
    schedule = PromptSchedule(
        tuple(Keyframe(frame=f, prompt=p) for f, p in zip(frames, prompts, strict=True))
    )
    text = format_schedule(schedule)
    parse_schedule(text)  # a proposal the parser would refuse is a bug here, not the user's
    return PromptIdeas(schedule=text, prompts=prompts, frames=frames, source=source)


def _check(keyframes: int, frames_per_keyframe: int, seed: int, text_dtype: str) -> None:
    if not 1 <= keyframes <= MAX_KEYFRAMES:
        raise SpecError(f"keyframes must be from 1 to {MAX_KEYFRAMES}, got {keyframes}")
    if frames_per_keyframe < 1:
        raise SpecError(f"frames per keyframe must be 1 or more, got {frames_per_keyframe}")
    if (keyframes - 1) * frames_per_keyframe > MAX_FRAME:
        raise SpecError(
            f"{keyframes} keyframes {frames_per_keyframe} frames apart end after frame "
            f"{MAX_FRAME}, the last a schedule may have"
        )
    if not 0 <= seed <= 2**63 - 1:
        raise SpecError(f"seed must be from 0 to 2**63 - 1, got {seed}")
    if text_dtype not in TEXT_DTYPES:
        raise SpecError(f"text dtype must be one of {', '.join(TEXT_DTYPES)}, got {text_dtype!r}")


# -- the vocabulary of the built-in models ------------------------------------------------------


def _from_vocabulary(count: int, seed: int, theme: str) -> list[str]:
    """``count`` captions in ``builtin:shapes``' grammar, a walk of small changes."""
    rng = random.Random(seed)
    theme_words = set(re.findall(r"[a-z]+", theme.lower()))
    scene = {
        "colour": _pick(rng, shapes_words.COLOUR_WORDS, theme_words),
        "shape": _pick(rng, shapes_words.SHAPES, theme_words),
        "size": rng.choice((None, *shapes_words.SIZES)),
        "background": None,
        "place": rng.choice((None, *shapes_words.POSITIONS)),
    }
    scene["background"] = _background(rng, scene["colour"], optional=True)
    prompts = [_caption(scene)]
    while len(prompts) < count:
        changed = rng.sample(_ATTRIBUTES, rng.choice((1, 2)))
        for attribute in changed:
            scene[attribute] = _other(rng, attribute, scene)
        if scene["background"] == scene["colour"]:  # a shape the colour of its background
            scene["background"] = _background(rng, scene["colour"], optional=False)
        caption = _caption(scene)
        if caption != prompts[-1]:
            prompts.append(caption)
    return prompts


def _pick(rng: random.Random, words: tuple[str, ...], wanted: set[str]) -> str:
    """A word of ``words`` the theme names (the first such), else a random one."""
    named = [w for w in words if w in wanted]
    return named[0] if named else rng.choice(words)


def _background(rng: random.Random, colour: str, optional: bool) -> str | None:
    choices = [b for b in shapes_words.BACKGROUND_WORDS if b != colour]
    return rng.choice([None, *choices] if optional else choices)


def _other(rng: random.Random, attribute: str, scene: dict[str, str | None]) -> str | None:
    """A new value of ``attribute``, different from the scene's (colour and shape are always
    named; the others may be left out)."""
    options: tuple[str | None, ...] = {
        "colour": shapes_words.COLOUR_WORDS,
        "shape": shapes_words.SHAPES,
        "size": (None, *shapes_words.SIZES),
        "background": (None, *shapes_words.BACKGROUND_WORDS),
        "place": (None, *shapes_words.POSITIONS),
    }[attribute]
    return rng.choice([o for o in options if o != scene[attribute]])


def _caption(scene: dict[str, str | None]) -> str:
    """``a large blue square on a white background at the top left`` from a scene."""
    head = " ".join(w for w in (scene["size"], scene["colour"], scene["shape"]) if w)
    text = f"{_article(head)} {head}"
    if scene["background"]:
        text += f" on {_article(scene['background'])} {scene['background']} background"
    if scene["place"]:
        text += " " + shapes_words.PLACE_PHRASES[scene["place"]]
    return text


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


# -- a local text-generation model --------------------------------------------------------------

_loaded: dict[tuple[str, str, str], tuple[Any, Any]] = {}
_load_lock = threading.Lock()


def _from_text_model(
    folder: Path, count: int, seed: int, theme: str, dtype: str, device: str
) -> list[str]:
    """``count`` one-line prompts continued from a numbered list by the model in ``folder``."""
    import torch

    tokenizer, model = _text_model(folder, dtype, device)
    about = f" about {' '.join(theme.split())}" if theme.strip() else ""
    header = f"Short image prompts for the keyframes of an animation{about}, one a line:\n"
    generator = torch.Generator().manual_seed(seed)  # the caller's random state is untouched
    prompts: list[str] = []
    for number in range(1, count + 1):
        # The header and the last few lines: enough to continue the list, and short enough
        # for a small model's context however many keyframes are asked for.
        recent = "".join(f"{n}. {p}\n" for n, p in enumerate(prompts, 1))
        context = header + "".join(recent.splitlines(keepends=True)[-_CONTEXT_LINES:])
        context += f"{number}."
        line = ""
        for _ in range(_TRIES):
            line = _clean(_continue(tokenizer, model, context, device, generator))
            if line:
                break
        if not line:
            raise SpecError(
                f"the text model in {folder} gave no usable words for keyframe {number} "
                f"in {_TRIES} tries; try another seed or another model"
            )
        prompts.append(line)
    return prompts


def _continue(tokenizer: Any, model: Any, context: str, device: str, generator: Any) -> str:
    """One continuation of ``context``, sampled from the ``_TOP_K`` likeliest tokens with
    ``generator``, up to its first line break (or the end-of-text token)."""
    import torch

    ids = tokenizer(context, return_tensors="pt")["input_ids"].to(device)
    eos = tokenizer.eos_token_id
    new: list[int] = []
    past = None
    with torch.inference_mode():
        for _ in range(_MAX_PROMPT_WORDS + 8):
            out = model(input_ids=ids, past_key_values=past, use_cache=True)
            past = out.past_key_values
            logits = out.logits[0, -1].float().cpu()
            if eos is not None and not new:
                logits[eos] = -torch.inf  # at least one token
            top = torch.topk(logits, min(_TOP_K, logits.numel()))
            pick = top.indices[
                torch.multinomial(torch.softmax(top.values, -1), 1, generator=generator)
            ]
            token = int(pick)
            if token == eos:
                break
            new.append(token)
            if "\n" in tokenizer.decode([token]):
                break
            ids = pick.view(1, 1).to(device)
    text = tokenizer.decode(new, skip_special_tokens=True)
    return text.strip("\n ").split("\n", 1)[0]


def _clean(line: str) -> str:
    """A continuation as a schedule prompt: letters, digits and plain punctuation only (no
    ``#``, ``|``, brackets or colons, which the schedule language reads), a leading list
    number dropped, at most ``_MAX_PROMPT_WORDS`` words."""
    kept = re.sub(r"[^A-Za-z0-9,.'\- ]+", " ", line)
    kept = re.sub(r"^[\s\d.,\-]+", "", kept)  # "2. a cat" or ". a cat" -> "a cat"
    words = kept.split()[:_MAX_PROMPT_WORDS]
    return " ".join(words).strip(" ,.-")


def _text_model(folder: Path, dtype: str, device: str) -> tuple[Any, Any]:
    """The tokenizer and model in ``folder``, loaded once per (folder, dtype, device)."""
    key = (str(folder.resolve()), dtype, device)
    with _load_lock:
        if key in _loaded:
            return _loaded[key]
        if not folder.is_dir():
            problem = "is not a folder" if folder.exists() else "does not exist"
            raise ModelLoadError(
                f"text model folder {folder} {problem} (give a local folder with a causal "
                "language model and its tokenizer, e.g. a saved GPT-2)"
            )
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                folder, local_files_only=True, dtype=getattr(torch, dtype)
            )
        except (OSError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"cannot load a text model from {folder}: {first}") from None
        model.to(device).eval()
        _loaded.clear()  # one text model at a time: they are not small
        _loaded[key] = (tokenizer, model)
        return tokenizer, model
