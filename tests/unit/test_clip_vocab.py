"""scripts/clip_vocab.py builds a CLIP tokenizer (vocab.json, merges.txt) from byte-pair
merges in CLIP's token order; here from a few merges written in the test."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "clip_vocab.py"
MERGES = ["t h", "th e</w>", "c a", "ca t</w>", "a</w> x"]  # "a</w> x" is past the count


def _build(tmp_path: Path, count: int) -> Path:
    bpe = tmp_path / "bpe.txt.gz"
    bpe.write_bytes(gzip.compress(("header line\n" + "\n".join(MERGES) + "\n").encode()))
    out = tmp_path / "tokenizer"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--bpe", str(bpe), "--out", str(out), "--merges", str(count)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_the_vocabulary_is_bytes_bytes_at_word_end_merges_then_the_two_specials(tmp_path):
    out = _build(tmp_path, count=4)
    vocab = json.loads((out / "vocab.json").read_text(encoding="utf-8"))
    assert len(vocab) == 256 + 256 + 4 + 2
    # CLIP's order: printable bytes first ("!" is 0, "a" is 64), the moved ones after.
    assert (vocab["!"], vocab["a"], vocab["a</w>"], vocab["Ā"]) == (0, 64, 320, 188)
    assert vocab["th"] == 512 and vocab["cat</w>"] == 515
    assert (vocab["<|startoftext|>"], vocab["<|endoftext|>"]) == (516, 517)
    merges = (out / "merges.txt").read_text(encoding="utf-8").splitlines()
    assert merges == ["#version: 0.2", *MERGES[:4]]


def test_transformers_reads_it_as_a_clip_tokenizer(tmp_path):
    from transformers import CLIPTokenizer

    out = _build(tmp_path, count=4)
    tokenizer = CLIPTokenizer(str(out / "vocab.json"), str(out / "merges.txt"))
    assert tokenizer("the cat").input_ids == [516, 513, 515, 517]
    assert tokenizer("a").input_ids == [516, 320, 517]
