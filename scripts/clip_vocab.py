"""Build CLIP's tokenizer files (vocab.json, merges.txt) from CLIP's byte-pair merges, offline.

Why: a single-file checkpoint (``from_single_file``) needs the CLIP tokenizer of its text
encoder, and ``openai/clip-vit-large-patch14`` cannot be downloaded where the Hub is not
reachable. The merges it is made from are on PyPI: the ``open_clip_torch`` wheel ships
``open_clip/bpe_simple_vocab_16e6.txt.gz``, the byte-pair merges OpenAI's CLIP was trained
with (MIT licence: the wheel's ``LICENSE``, copyright Gabriel Ilharco et al.; the file itself
comes from OpenAI's CLIP repository, also MIT). The studio ships the ``merges.txt`` this
writes, gzip-compressed (``studio/configs/clip/merges.txt.gz``), and builds ``vocab.json``
from it at run time (``studio.pipeline.single_file``); this script is how it was made.
Getting it::

    .venv/bin/python -m pip download open_clip_torch==2.24.0 --no-deps -d /tmp/oc
    .venv/bin/python scripts/clip_vocab.py --wheel /tmp/oc/open_clip_torch-2.24.0-py3-none-any.whl --out FOLDER

How the vocabulary follows from the merges (CLIP's own construction): the 256 byte symbols
(bytes stood for by printable characters, as GPT-2's byte-level BPE does), the same 256 with the
end-of-word mark ``</w>``, one token per merge (the pair joined) for the first 48,894 merges
(49,152 - 256 - 2), then ``<|startoftext|>`` and ``<|endoftext|>``: 49,408 tokens, ids in that
order. ``merges.txt`` is those merges under the ``#version: 0.2`` header.
"""

from __future__ import annotations

import argparse
import gzip
import json
import zipfile
from pathlib import Path

CLIP_MERGES = 49152 - 256 - 2  # merges CLIP uses: its vocabulary is 49,408 tokens
BPE_IN_WHEEL = "open_clip/bpe_simple_vocab_16e6.txt.gz"


def byte_symbols() -> list[str]:
    """The 256 printable characters byte-level BPE stands the bytes for, in CLIP's order.

    Printable Latin-1 bytes stand for themselves and come first, in byte order; the rest
    (controls, space, ...) follow, moved to code points from 256 up in byte order, so no
    symbol is whitespace or a control (GPT-2's byte-level BPE does the same).
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    rest = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(rest))]


def read_merges(text: str, count: int = CLIP_MERGES) -> list[tuple[str, str]]:
    """The first ``count`` merges of a BPE file's text (its first line is a header)."""
    lines = text.split("\n")[1 : count + 1]
    merges = [tuple(line.split()) for line in lines if line.strip()]
    bad = [m for m in merges if len(m) != 2]
    if bad:
        raise ValueError(f"a merge line must be two symbols, got {' '.join(bad[0])!r}")
    return merges  # type: ignore[return-value]


def build_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """Token -> id, in CLIP's order (module docstring)."""
    symbols = byte_symbols()
    tokens = [*symbols, *(s + "</w>" for s in symbols), *("".join(m) for m in merges)]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {token: i for i, token in enumerate(tokens)}


def write_tokenizer(bpe_text: str, out: Path, count: int = CLIP_MERGES) -> dict[str, int]:
    """Write ``vocab.json`` and ``merges.txt`` into ``out``; returns the vocabulary."""
    merges = read_merges(bpe_text, count)
    vocab = build_vocab(merges)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2", *(" ".join(m) for m in merges)]
    (out / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return vocab


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--wheel", type=Path, help="an open_clip_torch wheel")
    source.add_argument("--bpe", type=Path, help="a bpe_simple_vocab_16e6.txt(.gz) file")
    parser.add_argument("--out", type=Path, required=True, help="folder to write into")
    parser.add_argument("--merges", type=int, default=CLIP_MERGES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.wheel is not None:
        raw = zipfile.ZipFile(args.wheel).read(BPE_IN_WHEEL)
    else:
        raw = args.bpe.read_bytes()
    text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode("utf-8")
    vocab = write_tokenizer(text, args.out, args.merges)
    print(f"wrote {len(vocab)} tokens to {args.out / 'vocab.json'} and {args.out / 'merges.txt'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
