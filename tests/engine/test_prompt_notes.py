"""A prompt longer than the text encoder reads is said, not silently cut (issue 26, item 5)."""

from __future__ import annotations

import studio
from studio.pipeline.text import truncated_prompts
from studio.spec import AnimationSpec, DiffusionSettings, PromptSettings

LONG = " ".join(["a red circle on a blue square"] * 20)  # 140 words


def test_a_render_notes_the_prompt_the_encoder_cuts(studio_home, manager):
    spec = AnimationSpec(
        prompts=PromptSettings(schedule=f"0: a red circle\n1: {LONG}"),
        diffusion=DiffusionSettings(model="builtin:tiny", steps=1, width=64, height=64),
    )
    _, result = studio.render(spec, home=studio_home, manager=manager)
    (note,) = result.notes
    assert note.startswith("the prompt of line 2 is about 140 tokens; the model reads the first 75")


def test_short_and_weighted_prompts_give_no_note(manager):
    pipe = manager.load("builtin:tiny").pipe
    assert truncated_prompts(pipe, ["a red circle", "a (red)1.3 circle++", ""]) == []
    (note,) = truncated_prompts(pipe, [LONG])
    assert "the prompt of 'a red circle on a blue square '... is about 140 tokens" in note


def test_one_shared_prompt_parser_gives_compels_own_embeddings(manager):
    """The studio reads every text with one compel prompt parser (compel builds a new one per
    text): the same embeddings, weighted and long texts included (issue 27, item 1)."""
    import torch
    from compel import Compel

    from studio.pipeline.text import encode_prompts

    pipe = manager.load("builtin:tiny").pipe
    texts = ["a (red)1.3 circle++", "", "a blue square", LONG]
    ours = encode_prompts(pipe, texts, torch.device("cpu"))
    compel = Compel(tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, device="cpu")
    with torch.no_grad():
        theirs = compel.pad_conditioning_tensors_to_same_length([compel(t) for t in texts])
    for text, states in zip(texts, theirs, strict=True):
        assert torch.equal(ours[text].states, states)
    # Read again, from the kept parses: the same embeddings.
    again = encode_prompts(pipe, texts, torch.device("cpu"))
    for text in texts:
        assert torch.equal(again[text].states, ours[text].states)
