"""A CLIP tokenizer over a vocabulary the project builds itself.

Built-in models cannot download OpenAI's CLIP vocabulary, so they carry their own: every byte
(as CLIP's byte-to-unicode alphabet, with and without the end-of-word mark) so that any text
tokenizes without unknown tokens, plus merges that make each word of ``WORDS`` one token.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

__all__ = ["WORDS", "build_tokenizer", "build_vocab"]

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
END_OF_WORD = "</w>"

# Words the built-in models know as single tokens. Order matters: ids follow it, so only
# append (a new word changes no existing id).
WORDS: tuple[str, ...] = (
    # articles, prepositions and glue
    "a",
    "an",
    "the",
    "on",
    "in",
    "at",
    "of",
    "with",
    "and",
    "to",
    "from",
    "by",
    "near",
    # colours
    "red",
    "green",
    "blue",
    "yellow",
    "purple",
    "orange",
    "white",
    "black",
    "pink",
    "brown",
    "gray",
    "grey",
    "cyan",
    "magenta",
    "gold",
    "silver",
    "dark",
    "light",
    "bright",
    "pale",
    # shapes and sizes
    "circle",
    "square",
    "triangle",
    "star",
    "rectangle",
    "diamond",
    "heart",
    "ring",
    "dot",
    "line",
    "small",
    "large",
    "big",
    "tiny",
    "huge",
    "medium",
    # places in a picture
    "background",
    "top",
    "bottom",
    "left",
    "right",
    "centre",
    "center",
    "middle",
    "corner",
    "plain",
    # common subjects, so demo prompts are not all spelled out letter by letter
    "cat",
    "dog",
    "bird",
    "fish",
    "tree",
    "flower",
    "house",
    "city",
    "forest",
    "mountain",
    "sea",
    "ocean",
    "river",
    "lake",
    "sky",
    "sun",
    "moon",
    "cloud",
    "clouds",
    "rain",
    "snow",
    "fire",
    "water",
    "night",
    "day",
    "sunset",
    "sunrise",
    "space",
    "planet",
    "galaxy",
    "portrait",
    "landscape",
    "painting",
    "photo",
    "drawing",
    "sketch",
    "style",
    "art",
    "beautiful",
    "detailed",
    "blurry",
    "low",
    "quality",
    "high",
    "old",
    "new",
)


def _byte_alphabet() -> list[str]:
    """CLIP's (and GPT-2's) reversible map from the 256 byte values to printable characters."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars = []
    extra = 0
    for byte in range(256):
        if byte in printable:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def _bpe(symbols: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    """What byte-pair encoding does to ``symbols`` with the merges in ``ranks`` (lowest first)."""
    while len(symbols) > 1:
        found = [(ranks[p], i) for i, p in enumerate(itertools.pairwise(symbols)) if p in ranks]
        if not found:
            break
        i = min(found)[1]
        pair = (symbols[i], symbols[i + 1])
        merged, j = [], 0
        while j < len(symbols):
            if j + 1 < len(symbols) and (symbols[j], symbols[j + 1]) == pair:
                merged.append(pair[0] + pair[1])
                j += 2
            else:
                merged.append(symbols[j])
                j += 1
        symbols = merged
    return symbols


def build_vocab(words: Iterable[str] = WORDS) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary and merge list for ``CLIPTokenizer(vocab=..., merges=...)``.

    The tokenizer applies merges by rank, not word by word, so a merge made for an earlier
    word ("a n" for "and") can split a later one ("or|an|ge"). Each word is therefore first
    put through the merges made so far, and only the pieces left are joined, left to right,
    by new merges of lower priority: every word of ``words`` comes out as one token.
    """
    vocab: dict[str, int] = {BOS: 0, EOS: 1}
    for char in _byte_alphabet():
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + END_OF_WORD, len(vocab))
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    for word in words:
        symbols = list(word)
        symbols[-1] += END_OF_WORD
        pieces = _bpe(symbols, ranks)
        piece = pieces[0]
        for following in pieces[1:]:
            if (piece, following) not in ranks:
                ranks[(piece, following)] = len(merges)
                merges.append((piece, following))
            piece += following
            vocab.setdefault(piece, len(vocab))
    return vocab, merges


def build_tokenizer(words: Iterable[str] = WORDS, max_length: int = 77) -> CLIPTokenizer:
    """A ``CLIPTokenizer`` over ``words`` (imports transformers when called)."""
    from transformers import CLIPTokenizer

    vocab, merges = build_vocab(words)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)
