"""The words ``builtin:shapes`` learnt: the caption language of its training pictures.

Every training picture is one shape on a plain background, and its caption names the
shape's colour and kind and, optionally, its size, the background and its place. This
module is the one list of those words: the product reads it to warn about prompt words the
model never saw (:func:`unknown_words`) and to show what it knows (:func:`vocabulary`), and
the training dataset (``training.shapes.dataset``, which draws the pictures) builds its
tables from it. Pure Python; no numpy, no torch.

Caption grammar (one form per scene and choice of mentioned attributes; every word is one
token of ``studio.pipeline.vocab.WORDS``)::

    caption    := article [size " "] colour " " shape [background] [place]
    article    := "an " before a word that starts with a vowel ("an orange star"), else "a "
    background := " on " article colour " background"   ("on a white background")
    place      := " in the centre"
                | " on the left" | " on the right"
                | " at the top" | " at the bottom"
                | " at the top left" | " at the top right"
                | " at the bottom left" | " at the bottom right"

e.g. ``a large blue square on a white background at the top left``, ``an orange star on the
left``, ``a red circle``. Colour and shape are always named; size, background and place may
be left out (then the model may draw any of them).
"""

from __future__ import annotations

import re

__all__ = [
    "BACKGROUND_WORDS",
    "COLOUR_WORDS",
    "GLUE_WORDS",
    "PLACE_PHRASES",
    "POSITIONS",
    "SHAPES",
    "SIZES",
    "unknown_words",
    "vocabulary",
]

# Colours a shape is drawn in. Order is the dataset's table order (it pairs them with RGB).
COLOUR_WORDS: tuple[str, ...] = (
    "red",
    "green",
    "blue",
    "yellow",
    "purple",
    "orange",
    "white",
    "black",
)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")
# Background colours: all but gray are also shape colours.
BACKGROUND_WORDS: tuple[str, ...] = ("black", "white", "gray", "blue", "green")
SIZES: tuple[str, ...] = ("small", "large")
# Position name -> the phrase a caption writes for it.
PLACE_PHRASES: dict[str, str] = {
    "centre": "in the centre",
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
    "top left": "at the top left",
    "top right": "at the top right",
    "bottom left": "at the bottom left",
    "bottom right": "at the bottom right",
}
POSITIONS: tuple[str, ...] = tuple(PLACE_PHRASES)
# The words a caption uses around the attributes ("a red circle on a black background").
GLUE_WORDS: tuple[str, ...] = ("a", "an", "on", "background", "in", "the", "at")


def vocabulary() -> dict[str, tuple[str, ...]]:
    """The words of the caption grammar, by what they name: what ``builtin:shapes`` learnt.

    Keys: ``colours``, ``shapes``, ``backgrounds``, ``sizes``, ``positions`` (the phrases, as
    a caption writes them), ``other`` (the words around them).
    """
    return {
        "colours": COLOUR_WORDS,
        "shapes": SHAPES,
        "backgrounds": BACKGROUND_WORDS,
        "sizes": SIZES,
        "positions": tuple(PLACE_PHRASES.values()),
        "other": GLUE_WORDS,
    }


def unknown_words(prompt: str) -> list[str]:
    """The words of ``prompt`` that no caption uses, lowercased, in order, each once.

    Only letters make words, so compel's weighting (``(red:1.3)``, ``circle++``) and numbers
    are ignored. An empty list means the model has seen every word of the prompt.
    """
    known = {w for words in vocabulary().values() for phrase in words for w in phrase.split()}
    found = dict.fromkeys(w for w in re.findall(r"[a-z]+", prompt.lower()) if w not in known)
    return list(found)
