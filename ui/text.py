"""Text that someone else wrote, shown as exactly those characters.

A run's error, a session's title, notes and tags, prompts and model references can come from
a session pulled from the Hugging Face Hub. ``st.markdown``, ``st.caption``, ``st.error`` and
the other message elements (and ``st.table`` cells) read their text as Markdown, so such text
could turn into a link, or an image the browser fetches. ``plain(text)`` makes it inert.

Two layers need breaking. The Markdown parser reads syntax: every character that can start or
close a construct gets a backslash (CommonMark lets any ASCII punctuation be escaped), and so
does a character that only means something at the start of a line. GitHub-flavoured Markdown
as the dashboard's browser renders it (remark-gfm) then looks for bare URLs and e-mail
addresses in the *unescaped* text, so no backslash can stop that; a WORD JOINER (U+2060, no
width, no line break) goes inside ``://``, after ``www`` and after ``@``, where those patterns
need the two characters to touch.
"""

from __future__ import annotations

import re

__all__ = ["WORD_JOINER", "plain"]

WORD_JOINER = "\u2060"
_NBSP = "\u00a0"

# Characters that open or close inline Markdown anywhere in a line: code, emphasis, links and
# images, raw HTML and autolinks, strikethrough, table cells, Streamlit's LaTeX, entities.
_INLINE = re.compile(r"([\\`*_\[\]<>~|$&])")
# What means something only as the first thing on a line: headings, list items, setext
# underlines, block quotes (``>`` is escaped anyway), ordered list items ``12.`` and ``3)``.
_LINE_START = re.compile(r"^([#+\-=])|^(\d+)([.)])")
_URL_SCHEME = re.compile(r"://")
_WWW = re.compile(r"(www)(?=\.)", re.IGNORECASE)


def plain(text: str) -> str:
    """``text`` as Markdown that renders as the same characters: no link, image, HTML or
    formatting, line breaks kept.

    The result is meant for one element's body (``st.error(plain(run.error))``) or spliced
    into Markdown of one's own (``f"**{plain(title)}**"``). Leading spaces become no-break
    spaces (a tab four) so that an indented line is not read as a code block; the only other
    added characters are backslashes and invisible word joiners.

    Raises ``TypeError`` naming the type if ``text`` is not a ``str``: turn a value into text
    on purpose (``plain(str(exc))``), so that ``None`` never shows as "None".
    """
    if not isinstance(text, str):
        raise TypeError(f"plain() takes text, got {type(text).__name__}: {text!r}")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "  \n".join(_plain_line(line) for line in lines)


def _plain_line(line: str) -> str:
    body = line.lstrip(" \t")
    indent = line[: len(line) - len(body)].replace(" ", _NBSP).replace("\t", _NBSP * 4)
    body = _INLINE.sub(r"\\\1", body)
    body = _LINE_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", body, count=1)
    body = _URL_SCHEME.sub(f":{WORD_JOINER}//", body)
    body = _WWW.sub(rf"\1{WORD_JOINER}", body)
    return indent + body.replace("@", f"@{WORD_JOINER}")
