"""Text from elsewhere (a pulled Hub session) is shown as its characters, never as Markdown.

``ui.text.plain`` is checked with a real CommonMark parser (markdown-it-py) plus the bare-URL
and e-mail patterns that remark-gfm, the browser's renderer, applies to the parsed text; then
the pages are checked through AppTest with a store seeded with hostile text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from db import RunRecorder, Store, update_session
from ui.text import WORD_JOINER, plain

EVIL = "[x](http://127.0.0.1:9/evil) ![y](http://127.0.0.1:9/evil.png)"

# remark-gfm (mdast-util-gfm-autolink-literal) turns these into links in the parsed text,
# after backslash escapes are gone; Python's \w is wider than JavaScript's, so stricter.
GFM_URL = re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.IGNORECASE)
GFM_EMAIL = re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)")

_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def rendered(markdown: str) -> tuple[list[str], str]:
    """The token types a Markdown renderer makes of ``markdown``, and the text it shows
    (line breaks as ``\\n``, paragraphs apart by a blank line)."""
    kinds, paragraphs = [], []
    for token in _MD.parse(markdown):
        kinds.append(token.type)
        if token.type == "inline":
            parts = []
            for child in token.children or []:
                kinds.append(child.type)
                parts.append("\n" if child.type.endswith("break") else child.content)
            paragraphs.append("".join(parts))
    return kinds, "\n\n".join(paragraphs)


def shown_as_typed(text: str) -> str:
    """What a person reads: the word joiners are invisible, no-break spaces look like spaces."""
    return text.replace(WORD_JOINER, "").replace("\u00a0", " ")


def assert_harmless(markdown: str) -> str:
    """No link, image or HTML (so nothing the browser fetches or a click follows), no bare
    URL or e-mail for remark-gfm to link, no LaTeX; a page's own bold type may stay."""
    kinds, text = rendered(markdown)
    assert not {"link_open", "image", "html_inline", "html_block"} & set(kinds), (markdown, kinds)
    assert not GFM_URL.search(text) and not GFM_EMAIL.search(text), text
    assert "$" not in markdown.replace("\\$", ""), markdown  # Streamlit's LaTeX
    return text


def assert_inert(markdown: str) -> str:
    """Harmless, and no formatting at all: the text shows as typed."""
    kinds, _ = rendered(markdown)
    allowed = {"paragraph_open", "paragraph_close", "inline", "text", "softbreak", "hardbreak"}
    assert set(kinds) <= allowed, (markdown, kinds)
    return assert_harmless(markdown)


def test_links_and_images_show_as_their_characters():
    escaped = plain(EVIL)
    kinds, text = rendered(escaped)
    assert "link_open" not in kinds and "image" not in kinds
    assert_inert(escaped)
    assert shown_as_typed(text) == EVIL


@pytest.mark.parametrize(
    "text",
    [
        "# heading",
        "- item\n+ item\n* item",
        "12. ordered\n3) ordered",
        "> quote",
        "title\n===",
        "title\n---",
        "***",
        "    four spaces would be code",
        "\tand a tab",
        "```\nfence\n```",
        "~~~\nfence",
        "`code` **bold** _it_ ~~gone~~",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "<img src=http://127.0.0.1:9/x.png> <b>bold</b>",
        "<http://127.0.0.1:9/a> <me@example.com>",
        "see http://127.0.0.1:9/evil or HTTPS://EXAMPLE.COM/x",
        "www.example.com/x and WWW.EXAMPLE.COM",
        "write to someone@example.com",
        "[ref]\n\n[ref]: http://127.0.0.1:9/evil",
        "&amp; &#60; &copy;",
        "price $5 and $x^2$ and $$y$$",
        ":red[coloured] text",
        "a backslash \\ at the end \\",
        "line one\nline two",
    ],
)
def test_markdown_syntax_stays_text(text):
    shown = assert_inert(plain(text))
    assert [line.strip() for line in shown_as_typed(shown).split("\n")] == [
        line.strip() for line in text.replace("\t", "    ").split("\n")
    ]


@given(st.text(alphabet=st.characters(codec="ascii", exclude_categories=["Cc"]) | st.just("\n")))
def test_any_text_renders_as_itself(text):
    shown = assert_inert(plain(text))
    words = shown_as_typed(shown).split()
    assert words == text.split()


def test_only_text_is_accepted():
    assert plain("") == ""
    with pytest.raises(TypeError, match="got NoneType"):
        plain(None)  # type: ignore[arg-type]


# -- the pages ------------------------------------------------------------------------------


HOSTILE_SPEC = {
    "kind": "animation",
    "prompts": {"schedule": f"0: {EVIL}"},
    "diffusion": {"model": EVIL, "scheduler": "[s](http://127.0.0.1:9/s)", "steps": 2},
}


@dataclass
class _Video:
    path: Path
    kind: str = "mp4"
    frames: int = 2
    fps: float = 8.0
    width: int = 64
    height: int = 64
    has_audio: bool = False


@dataclass
class _Result:
    denoise_steps: int = 4
    timings: dict = field(default_factory=lambda: {"[d](http://127.0.0.1:9/d)": 0.5})
    seconds: float = 0.75
    frames: int = 2


@pytest.fixture
def hostile(studio_home) -> dict[str, str]:
    """A pulled-looking session: hostile title, notes and tags, a finished run with a hostile
    spec and a video, and a failed run with a hostile error. Returns the two run ids."""
    store = Store.open(studio_home)
    ids = {}
    for outcome in ("done", "failed"):
        recorder = RunRecorder.create(
            store,
            session_slug="pulled",
            kind="animation",
            spec=HOSTILE_SPEC,
            schema_version=1,
            model_ref=EVIL,
            seed=3,
        )
        recorder.started({"frames": 2, "device": "[c](http://127.0.0.1:9/c)"})
        if outcome == "done":
            video = recorder.output_dir / "video.mp4"
            video.write_bytes(b"not really a video")
            recorder.output(_Video(video))
            recorder.finished(_Result())
        else:
            recorder.failed(RuntimeError(f"boom {EVIL}"))
        ids[outcome] = recorder.run_id
    with store.begin() as s:
        update_session(s, "pulled", title=EVIL, notes=f"notes {EVIL}", tags=["![t](http://x/t)"])
    return ids


def markdown_shown(at) -> list[str]:
    """Every Markdown body on the page: text, captions, messages and static table cells."""
    elements = [*at.markdown, *at.caption, *at.error, *at.warning, *at.info, *at.success]
    bodies = [e.value for e in elements]
    for table in at.table:
        frame = table.value
        bodies += [str(c) for c in frame.columns] + [str(v) for v in frame.to_numpy().ravel()]
    return bodies


def test_history_shows_hostile_errors_and_settings_as_text(app, hostile):
    app.switch_page("pages/history.py").run()
    assert not app.exception, app.exception
    app.selectbox(key="history.run").set_value(hostile["failed"]).run()
    assert app.error[0].value == plain(f"boom {EVIL}")
    app.selectbox(key="history.other").set_value(hostile["done"]).run()
    bodies = markdown_shown(app)
    assert any("evil" in body for body in bodies), bodies
    for body in bodies:
        assert_harmless(body)


def test_sessions_page_shows_hostile_text_as_text(app, hostile):
    app.switch_page("pages/sessions.py").run()
    assert not app.exception, app.exception
    assert list(app.dataframe[0].value["title"]) == [EVIL]  # a table cell is never Markdown
    app.text_input(key="sessions.repo").set_value(EVIL).run()
    app.button(key="sessions.list_remote").click().run()
    assert not app.exception, app.exception
    assert [e.value for e in app.error] == [
        plain(f"a Hub repo is named ORG/NAME (e.g. alice/studio-sessions), got {EVIL!r}")
    ]
    for body in markdown_shown(app):
        assert_harmless(body)


def test_gallery_shows_hostile_settings_as_text(app, hostile):
    app.switch_page("pages/gallery.py").run()
    assert not app.exception, app.exception
    bodies = markdown_shown(app)
    assert any(plain(EVIL) in caption.value for caption in app.caption), bodies
    assert any(" · today " in m.value for m in app.markdown), bodies  # a local, readable time
    for body in bodies:
        assert_harmless(body)


def test_chart_labels_show_prompts_as_text_not_html():
    """Plotly reads <a href> in labels and hover text as a link: prompts are escaped."""

    from studio.animation.plan import plan_animation
    from studio.blend.plan import plan_blend
    from studio.spec import AnimationSpec, BlendKeyframe, BlendSpec
    from ui.charts import blend_tree_chart, interpolation_chart

    evil = '<a href="http://127.0.0.1:9/evil">click</a>'
    spec = AnimationSpec()
    spec = spec.replace(prompts=spec.prompts.replace(schedule=f"0: {evil}\n4: b"))
    blend = BlendSpec()
    blend = blend.replace(
        prompts=blend.prompts.replace(keyframes=(BlendKeyframe(evil), BlendKeyframe("b")))
    )
    for fig in (interpolation_chart(plan_animation(spec)), blend_tree_chart(plan_blend(blend))):
        shown = str(fig.to_dict())
        assert "<a href" not in shown and "&lt;a href" in shown
