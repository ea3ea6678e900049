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
