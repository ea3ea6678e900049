"""A CLIP tokenizer over a vocabulary the project builds itself.

Built-in models cannot download OpenAI's CLIP vocabulary, so they carry their own: every byte
(as CLIP's byte-to-unicode alphabet, with and without the end-of-word mark) so that any text
tokenizes without unknown tokens, plus merges that make each word of ``WORDS`` one token.
"""

from __future__ import annotations

from collections.abc import Iterable

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


def build_vocab(words: Iterable[str] = WORDS) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary and merge list for ``CLIPTokenizer(vocab=..., merges=...)``.

    Each word is built by merging left to right, so every intermediate piece is a token and
    any split the BPE makes is still in the vocabulary.
    """
    vocab: dict[str, int] = {BOS: 0, EOS: 1}
    for char in _byte_alphabet():
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + END_OF_WORD, len(vocab))
    merges: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for word in words:
        symbols = list(word)
        symbols[-1] += END_OF_WORD
        piece = symbols[0]
        for symbol in symbols[1:]:
            pair = (piece, symbol)
            piece = piece + symbol
            if pair not in seen:
                seen.add(pair)
                merges.append(pair)
            vocab.setdefault(piece, len(vocab))
    return vocab, merges


def build_tokenizer(words: Iterable[str] = WORDS, max_length: int = 77):
    """A ``CLIPTokenizer`` over ``words`` (imports transformers when called)."""
    from transformers import CLIPTokenizer

    vocab, merges = build_vocab(words)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)
