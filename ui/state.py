"""Widget state that survives page switches.

Streamlit forgets a widget's value when a run does not draw that widget, so a schedule typed
on one page would be gone after a visit to the Gallery. ``keep`` copies each value into a
plain dict in the session state and puts it back when the page is drawn again.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

__all__ = ["get_value", "keep", "remember_all", "set_value"]

_KEPT = "_kept_widget_values"


def keep(key: str, default: Any) -> None:
    """Call before drawing the widget with ``key=key`` (and no ``value=``)."""
    kept = st.session_state.setdefault(_KEPT, {})
    if key not in st.session_state:
        st.session_state[key] = kept.get(key, default)
    kept[key] = st.session_state[key]


def remember_all() -> None:
    """Copy every kept widget's current value; the entry point calls it first in each run.

    ``keep`` only copies a value when its page draws the widget again. A widget drawn only
    under a condition (a setup's own fields, say) can change in the run that hides it, and
    would then come back with its older value: this catches the change first.
    """
    kept = st.session_state.setdefault(_KEPT, {})
    for key in list(kept):
        if key in st.session_state:
            kept[key] = st.session_state[key]


def set_value(key: str, value: Any) -> None:
    """Set a kept widget's value from code (before the widget is drawn in this run)."""
    st.session_state.setdefault(_KEPT, {})[key] = value
    st.session_state[key] = value


def get_value(key: str, default: Any = None) -> Any:
    """A kept widget's value, also where its widget is not drawn (a callback on another page
    runs before ``keep`` could bring it back)."""
    if key in st.session_state:
        return st.session_state[key]
    return st.session_state.get(_KEPT, {}).get(key, default)
