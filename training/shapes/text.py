"""The text encoder: a CLIPTextModel with no transformer layers, and the colour code.

It reads the project's own tokenizer (``studio.pipeline.vocab``) and is trained jointly
with the UNet (``training.shapes.unet``), except for the colour words, whose embeddings are
fixed before training in CIELAB order (:func:`colour_code`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from training.shapes.config import MAX_TOKENS
from training.shapes.dataset import BACKGROUNDS, COLOURS, srgb_to_lab

if TYPE_CHECKING:
    from transformers import CLIPTextModel, CLIPTokenizer

__all__ = ["HIDDEN", "colour_code", "make_text_encoder"]

HIDDEN = 64  # the width of every token's vector, and the UNet's cross-attention width


def make_text_encoder(vocab_size: int, hidden: int = HIDDEN) -> CLIPTextModel:
    """A CLIPTextModel with no transformer layers: token + position embeddings and the final
    LayerNorm, so every word keeps a vector of its own.

    Why no layers: trained jointly with the UNet, a 2-layer encoder mixes every word into
    every later token, and the final LayerNorm makes the words compete for each token's
    fixed norm. Background and colour words, useful at every noise level, grew; the position
    words, useful only at the first steps, shrank (their differences fell ~8x while
    background's grew ~9x) until the UNet could not read them at all. With no layers, the
    cross-attention reads "left" from the token "left" alone.
    """
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=hidden,
            intermediate_size=hidden * 4,
            num_hidden_layers=0,
            num_attention_heads=4,
            max_position_embeddings=MAX_TOKENS,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )


def colour_code(
    text_encoder: CLIPTextModel, tokenizer: CLIPTokenizer, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Give each colour word a token embedding made from its CIELAB colour; returns the
    ``(ids, rows)`` that training keeps fixed.

    Row = one shared vector + a fixed random projection of the word's scaled Lab values, so
    embeddings are linear in colour: the mix of "red" and "blue" that the engine makes
    between keyframes is the code of a colour between them (a magenta), close to no other
    colour word. With learned embeddings the mix of "red" and "blue" lay nearer "green"
    than "purple" in the UNet's eyes: a red-to-blue transition passed through a faint green
    shape. The background words (black, white, gray, blue, green) are the same tokens and
    get the same code.
    """
    gen = torch.Generator().manual_seed(seed)
    table = text_encoder.get_input_embeddings().weight
    hidden = table.shape[1]
    shared = torch.randn(hidden, generator=gen) * 0.02
    projection = torch.randn(hidden, 3, generator=gen) * 0.04
    ids, rows = [], []
    for word, rgb in {**BACKGROUNDS, **COLOURS}.items():
        (token,) = tokenizer(word, add_special_tokens=False).input_ids
        lab = torch.tensor(srgb_to_lab(rgb), dtype=torch.float32)
        scaled = (lab - torch.tensor([50.0, 0.0, 0.0])) / 50.0
        ids.append(token)
        rows.append(shared + projection @ scaled)
    ids, rows = torch.tensor(ids), torch.stack(rows)
    with torch.no_grad():
        table[ids] = rows
    return ids, rows
