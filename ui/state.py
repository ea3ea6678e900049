"""Widget state that survives page switches, and a browser that always shows it.

Streamlit keeps a widget's value only while the widget is drawn: a run that does not draw it
drops the value, and a value put into ``st.session_state`` is sent to the browser only in the
run that puts it there. So the form values live in a plain dict of our own (the *kept*
values), and the widgets' keys are just where each run hands them to Streamlit:

- ``keep(key, default)`` right before a widget is drawn: if the widget was not drawn in the
  previous run (another page, a hidden setup), its kept value is put into the session state
  in this run, so the browser shows it instead of the widget's default. A widget drawn in
  the previous run is left alone, so what the user is typing is never overwritten.
- ``seed(key, default)`` for a value the current page uses but does not draw.
- ``remember_all()`` first in every run (the entry point): takes the values of the widgets
  drawn in the previous run, as the browser sent them, into the kept dict.
- ``set_value``/``get_value`` write and read the kept value from code, on any page.

Reads go through the kept dict, never through a widget key of another page: that key may
hold a value Streamlit is about to drop.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

__all__ = ["get_value", "keep", "remember_all", "seed", "set_value"]

_KEPT = "_kept_widget_values"
_DRAWN_NOW = "_kept_drawn_this_run"
_DRAWN_BEFORE = "_kept_drawn_last_run"


def _kept() -> dict[str, Any]:
    return st.session_state.setdefault(_KEPT, {})


def _live(key: str) -> bool:
    """Whether the session state holds the browser's value for ``key``: its widget was drawn
    in the previous run (Streamlit drops it one run after it is not drawn)."""
    return key in st.session_state.get(_DRAWN_BEFORE, ()) and key in st.session_state


def seed(key: str, default: Any) -> None:
    """Give ``key`` a kept value if it has none, without touching any widget."""
    _kept().setdefault(key, default)


def keep(key: str, default: Any) -> None:
    """Call in the run that draws the widget with ``key=key`` (and no ``value=``), before it."""
    kept = _kept()
    if _live(key):
        kept[key] = st.session_state[key]
    else:
        kept.setdefault(key, default)
        st.session_state[key] = kept[key]
    st.session_state.setdefault(_DRAWN_NOW, set()).add(key)


def remember_all() -> None:
    """Take in the values the browser sent for the widgets drawn in the previous run; the
    entry point calls it first in each full run (a fragment's rerun does not)."""
    state = st.session_state
    state[_DRAWN_BEFORE] = state.get(_DRAWN_NOW, set())
    state[_DRAWN_NOW] = set()
    kept = _kept()
    for key in state[_DRAWN_BEFORE]:
        if key in state:
            kept[key] = state[key]


def set_value(key: str, value: Any) -> None:
    """Set a kept value from code: in a callback, or in a run before its widget is drawn."""
    _kept()[key] = value
    st.session_state[key] = value


def get_value(key: str, default: Any = None) -> Any:
    """A kept value, on any page; in a callback, the browser's newest value for a live widget
    (callbacks run before ``remember_all``)."""
    if _live(key):
        return st.session_state[key]
    return _kept().get(key, default)
