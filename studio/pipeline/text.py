"""Text conditioning: each unique prompt through the pipeline's text encoder once.

Prompts use compel's weighting syntax (``a (red)1.3 circle``). ``encode_prompts`` returns one
embedding per distinct text, which a render keeps for its whole length: keyframes that share
a prompt, and the negative prompt every keyframe uses, cost one encoder call each. Long
prompts split into chunks give longer embeddings, so all of one render's are padded to the
same length, and any two mix (slerp/lerp) with each other. Torch and compel are imported
when a prompt is encoded: plans (``unique_texts``) stay light for the dashboard.

SDXL (a pipeline with ``text_encoder_2``) reads both encoders as its pipeline does: each
encoder's penultimate hidden states, not normalised, side by side along the features, and
the pooled embedding of the second (``TextStates.pooled``). Its empty text (a keyframe
without a negative prompt) is zeros, states and pooled, where the pipeline's config sets
``force_zeros_for_empty_prompt``: what diffusers feeds SDXL for "no negative prompt".
"""

from __future__ import annotations

import copy
import functools
import re
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from studio.errors import ScheduleError, SpecError

if TYPE_CHECKING:
    import torch

    from studio.pipeline.conditioning import TextStates
    from studio.pipeline.models import Pipeline

__all__ = ["encode_prompts", "truncated_prompts", "unique_texts", "with_negative"]


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
    """``TextStates`` (1, L, D) on ``device`` for each distinct text of ``texts``, in order;
    for SDXL with ``pooled`` (1, P) and D the two encoders' widths together (module docstring).

    A text compel cannot read raises ``ScheduleError`` at its line of the prompt schedule
    when ``lines`` (text -> line number) is given, else ``SpecError``; both name the text.
    """
    import torch

    from studio.pipeline.conditioning import TextStates

    encoders = _Encoders(pipe, device)
    states: dict[str, list[torch.Tensor]] = {}  # text -> hidden states, one per encoder
    pooled: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for text in dict.fromkeys(texts):
            try:
                states[text], found = encoders(text)
            except Exception as exc:  # compel's parser raises its own assorted types
                message = f"cannot read the prompt {text!r}: {exc}"
                if lines is None:
                    raise SpecError(message) from exc
                raise ScheduleError(message, line=lines.get(text, 1), column=1) from exc
            if found is not None:
                pooled[text] = found.to(device)
        # Long prompts split into chunks: pad so every keyframe mixes with every other.
        joined = dict(zip(states, encoders.pad(list(states.values())), strict=True))
    out = {text: TextStates(s.to(device), pooled.get(text)) for text, s in joined.items()}
    if "" in out and encoders.zeros_for_empty:
        empty = out[""]
        out[""] = TextStates(torch.zeros_like(empty.states), torch.zeros_like(empty.pooled))
    return out


_WEIGHTS = re.compile(r"\)[0-9.]+|[()+\-]+(?=\s|$)|[()]")  # compel's weighting syntax


def truncated_prompts(
    pipe: Pipeline, texts: Iterable[str], where: Mapping[str, str] | None = None
) -> list[str]:
    """A note for each of ``texts`` longer than the model's text encoder reads (77 tokens
    with its start and end markers: the rest has no effect), naming it by ``where[text]``
    (e.g. "line 3") or by its start. Counted on the text without compel's weighting syntax,
    so "about"."""
    tokenizer = pipe.tokenizer
    limit = int(getattr(tokenizer, "model_max_length", 77) or 77)
    notes = []
    for text in dict.fromkeys(texts):
        count = len(tokenizer(_WEIGHTS.sub(" ", text)).input_ids)
        if count > limit:
            name = (where or {}).get(text) or f"{text[:30]!r}..."
            notes.append(
                f"the prompt of {name} is about {count - 2} tokens; the model reads the first "
                f"{limit - 2}, the rest has no effect"
            )
    return notes


class _Encoders:
    """The pipeline's text encoders through compel: one (Stable Diffusion 1.x/2.x) or two
    (SDXL, whose second gives the pooled embedding)."""

    def __init__(self, pipe: Pipeline, device: torch.device) -> None:
        from compel import ReturnedEmbeddingsType

        Compel = _compel_class()  # noqa: N806 (a class)
        second = getattr(pipe, "text_encoder_2", None)
        if second is None:
            self.compels = [
                Compel(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, device=str(device))
            ]
            self.zeros_for_empty = False
            return
        # SDXL: one Compel per encoder (compel's list form prints a deprecation warning).
        xl = ReturnedEmbeddingsType.PENULTIMATE_HIDDEN_STATES_NON_NORMALIZED
        self.compels = [
            Compel(
                tokenizer=pipe.tokenizer,
                text_encoder=pipe.text_encoder,
                returned_embeddings_type=xl,
                device=str(device),
            ),
            Compel(
                tokenizer=pipe.tokenizer_2,
                text_encoder=second,
                returned_embeddings_type=xl,
                requires_pooled=True,
                device=str(device),
            ),
        ]
        self.zeros_for_empty = bool(getattr(pipe.config, "force_zeros_for_empty_prompt", False))

    def __call__(self, text: str) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Each encoder's hidden states (1, L, D_i) of ``text``, and the pooled (1, P) or None."""
        states, pooled = [], None
        for compel in self.compels:
            out = compel(text)
            if compel.requires_pooled:
                out, pooled = out
            states.append(out)
        return states, pooled

    def pad(self, per_text: list[list[torch.Tensor]]) -> list[torch.Tensor]:
        """Every text's states padded to one length (the longest's, in whole chunks of each
        encoder's empty-text states), the encoders' side by side: (1, L, sum D_i) each."""
        import torch

        columns = []
        for i, compel in enumerate(self.compels):
            column = compel.pad_conditioning_tensors_to_same_length([t[i] for t in per_text])
            columns.append(column)
        length = max(column[0].shape[1] for column in columns)
        for i, compel in enumerate(self.compels):
            if columns[i][0].shape[1] < length:  # the encoders' tokenizers chunk differently
                empty = compel("")
                empty = empty[0] if compel.requires_pooled else empty
                chunks = (length - columns[i][0].shape[1]) // empty.shape[1]
                columns[i] = [torch.cat([c, empty.repeat(1, chunks, 1)], dim=1) for c in columns[i]]
        return [torch.cat(row, dim=-1) for row in zip(*columns, strict=True)]


_PARSES = 256


@functools.cache
def _compel_class() -> type:
    """Compel, reading every text with one prompt parser: compel builds the same pyparsing
    grammar anew for each text it reads (about 40 ms on a CPU, most of a small model's text
    encoding). The parse, and so the embedding, is the same. Each text's parse is also kept
    (the last ``_PARSES`` texts; a few ms each on a CPU, every render again): the parse is
    a function of the text alone, and compel is handed a copy of it."""
    from compel import Compel
    from compel.prompt_parser import PromptParser

    parser = PromptParser()
    lock = threading.Lock()  # one grammar: one parse at a time

    @functools.lru_cache(maxsize=_PARSES)
    def parse(prompt_string: str) -> Any:
        with lock:
            return parser.parse_conjunction(prompt_string)

    class SharedParserCompel(Compel):
        @classmethod
        def parse_prompt_string(cls, prompt_string: str) -> Any:
            return copy.deepcopy(parse(prompt_string))

    return SharedParserCompel


def with_negative(cond: TextStates, uncond: TextStates | None) -> TextStates:
    """The text states a guided step reads: ``[uncond; cond]`` (2B rows), or ``cond`` alone
    (B rows) without guidance (``uncond`` None)."""
    from studio.pipeline.conditioning import TextStates

    return cond if uncond is None else TextStates.cat([uncond, cond])
