"""A tiny random-weight GPT-2 and a word-level tokenizer, saved to a folder: a local
text-generation model for tests (its words are garbage; its shape is real)."""

from __future__ import annotations

from pathlib import Path

WORDS = [
    "a",
    "red",
    "circle",
    "blue",
    "square",
    "green",
    "star",
    "on",
    "the",
    "left",
    "right",
    "top",
    "bottom",
    "of",
    "sky",
    "cat",
    "city",
    "night",
    "fire",
    "water",
    "old",
    "new",
    "bright",
    "dark",
    "#",
    "|",
    ":",
    "[",
    "]",
    "(",
    ")",
    "1.",
    "2.",
]


def save_tiny_gpt2(folder: Path) -> Path:
    """Write a 2-layer, 32-wide GPT-2 with random weights (seeded) and its tokenizer."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<eos>": 1, "\n": 2}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", eos_token="<eos>", pad_token="<eos>"
    )
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=512,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=1,
        eos_token_id=1,
    )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
