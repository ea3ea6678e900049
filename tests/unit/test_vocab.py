"""The project's own CLIP vocabulary: every listed word is one token; any text tokenizes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from studio.pipeline.vocab import WORDS, build_tokenizer

TOKENIZER = build_tokenizer()


def test_every_word_is_a_single_token():
    split = [w for w in WORDS if len(TOKENIZER(w, add_special_tokens=False).input_ids) != 1]
    assert split == []


@settings(max_examples=200, deadline=None)
@given(
    st.text(
        alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.sampled_from("éüñçø"),
        max_size=60,
    )
)
def test_any_text_tokenizes_without_loss_of_characters(text):
    """Printable text (CLIP lowercases it and splits on spaces) comes back intact."""
    ids = TOKENIZER(text, add_special_tokens=False).input_ids
    decoded = TOKENIZER.decode(ids).replace(" ", "")
    assert decoded == "".join(text.lower().split())
