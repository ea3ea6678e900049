"""Text conditioning: each unique prompt through the pipeline's text encoder once.

Prompts use compel's weighting syntax (``a (red)1.3 circle``). ``encode_prompts`` returns one
embedding per distinct text, which a render keeps for its whole length: keyframes that share
a prompt, and the negative prompt every keyframe uses, cost one encoder call each. Long
prompts split into chunks give longer embeddings, so all of one render's are padded to the
same length, and any two mix (slerp/lerp) with each other. Torch and compel are imported
when a prompt is encoded: plans (``unique_texts``) stay light for the dashboard.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from studio.errors import ScheduleError, SpecError

if TYPE_CHECKING:
    import torch

    from studio.pipeline.conditioning import TextStates
    from studio.pipeline.models import Pipeline

__all__ = ["encode_prompts", "unique_texts", "with_negative"]


def unique_texts(
    prompts: Iterable[str], negatives: Iterable[str], guidance: float
) -> tuple[str, ...]:
    """Each text a render's encoder must see, once, in order; negatives only with guidance."""
    texts = dict.fromkeys(prompts)
    if guidance > 1.0:
        texts.update(dict.fromkeys(negatives))
    return tuple(texts)


def encode_prompts(
    pipe: Pipeline,
    texts: Iterable[str],
    device: torch.device,
    *,
    lines: Mapping[str, int] | None = None,
) -> dict[str, TextStates]:
    """``TextStates`` (1, L, D) on ``device`` for each distinct text of ``texts``, in order.

    A text compel cannot read raises ``ScheduleError`` at its line of the prompt schedule
    when ``lines`` (text -> line number) is given, else ``SpecError``; both name the text.
    """
    import torch
    from compel import Compel

    from studio.pipeline.conditioning import TextStates

    compel = Compel(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, device=str(device))
    embeddings: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for text in dict.fromkeys(texts):
            try:
                embeddings[text] = compel(text).to(device)
            except Exception as exc:  # compel's parser raises its own assorted types
                message = f"cannot read the prompt {text!r}: {exc}"
                if lines is None:
                    raise SpecError(message) from exc
                raise ScheduleError(message, line=lines.get(text, 1), column=1) from exc
    if len({e.shape for e in embeddings.values()}) > 1:
        # Long prompts split into chunks: pad so every keyframe mixes with every other.
        padded = compel.pad_conditioning_tensors_to_same_length(list(embeddings.values()))
        embeddings = dict(zip(embeddings, padded, strict=True))
    return {text: TextStates(states) for text, states in embeddings.items()}


def with_negative(cond: TextStates, uncond: TextStates | None) -> TextStates:
    """The text states a guided step reads: ``[uncond; cond]`` (2B rows), or ``cond`` alone
    (B rows) without guidance (``uncond`` None)."""
    from studio.pipeline.conditioning import TextStates

    return cond if uncond is None else TextStates.cat([uncond, cond])
