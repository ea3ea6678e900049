"""History helpers: searching runs, whether a re-run reproduced its original, and showing a
run the way a person reads it (local times, durations, timings, a short prompt).

Pure functions over the JSON-safe run dicts of ``db.repository.run_to_dict``, so the page
stays thin and the logic is testable without Streamlit. Anything that depends on the clock or
the time zone takes ``now`` and ``zone`` as arguments.
"""

from __future__ import annotations

import html
import json
import math
import re
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from studio.app.history import matches, prompts_text, reproduction, smoothness_of, sort_runs
from ui.text import plain

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = [
    "ago",
    "compare_rows",
    "duration",
    "local_zone",
    "matches",
    "prompt_summary",
    "prompts_text",
    "reproduction",
    "smoothness_of",
    "sort_runs",
    "timing_rows",
    "timings_chart",
    "took",
    "when",
]

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Timings keys that are not a stage: the clock's whole span and the recorder's wall time.
_TOTALS = ("total", "seconds")
_FRAME_KEY = re.compile(r"^\s*\d+\s*:\s*")


# -- times and durations --------------------------------------------------------------------


def local_zone(name: str | None) -> tzinfo:
    """The zone to show times in: the IANA zone ``name`` (the browser's, from
    ``st.context.timezone``), or this machine's own zone when ``name`` is ``None``.

    Raises ``ValueError`` naming a zone that this machine's time zone database lacks.
    """
    if name is None:
        zone = datetime.now().astimezone().tzinfo
        assert zone is not None  # astimezone() always gives an aware time
        return zone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}: {exc}") from None


def when(value: str | None, *, now: datetime, zone: tzinfo) -> str:
    """A stored time (ISO 8601 with a UTC offset) as a person reads it in ``zone``:
    ``today 14:03``, ``yesterday 09:12``, ``3 Dec 14:03``, or ``3 Dec 2025 14:03`` in
    another year than ``now``'s; ``""`` for ``None`` (not happened yet).

    "Today" is ``now``'s calendar day in ``zone``. Raises ``ValueError`` naming a value that
    is not such a time, and for a ``now`` without a UTC offset.
    """
    if value is None:
        return ""
    local = _aware(value).astimezone(zone)
    today = _check_now(now).astimezone(zone).date()
    clock = f"{local:%H:%M}"
    if local.date() == today:
        return f"today {clock}"
    if local.date() == today - timedelta(days=1):
        return f"yesterday {clock}"
    year = "" if local.year == today.year else f" {local.year}"
    return f"{local.day} {_MONTHS[local.month - 1]}{year} {clock}"


def ago(value: str, *, now: datetime) -> str:
    """How long before ``now`` a stored time was: ``just now`` (under 45 s), ``5 min ago``,
    ``2 h ago``, ``1 day ago``, ``40 days ago``; a time after ``now`` (another machine's
    clock) reads ``in 10 min``. Raises ``ValueError`` as ``when`` does."""
    seconds = (_check_now(now) - _aware(value)).total_seconds()
    if abs(seconds) < 45:
        return "just now"
    span = abs(seconds)
    if span < 3600:
        amount = f"{max(int(span // 60), 1)} min"
    elif span < 86400:
        amount = f"{int(span // 3600)} h"
    else:
        days = int(span // 86400)
        amount = f"{days} day{'s' if days != 1 else ''}"
    return f"{amount} ago" if seconds > 0 else f"in {amount}"


def duration(seconds: float | None) -> str:
    """A span of time as a person reads it: ``0.25 s``, ``12.4 s``, ``3 m 48 s``, ``1 h 02 m``;
    ``""`` for ``None`` (not measured).

    Raises ``ValueError`` naming anything that is not a finite, non-negative number of
    seconds (a pulled run's timings can hold anything).
    """
    if seconds is None:
        return ""
    if not _is_number(seconds) or not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a number of seconds >= 0, got {seconds!r}")
    if seconds < 1:
        return f"{seconds:.2f} s"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} m {whole % 60:02d} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} m"


def took(timings: dict[str, Any]) -> str:
    """A run's wall time from its stored timings (``"seconds"``) as ``duration`` shows it;
    ``""`` while it has none, and the value as recorded if it is not a number of seconds."""
    seconds = timings.get("seconds")
    if seconds is None:
        return ""
    return duration(seconds) if _is_duration(seconds) else repr(seconds)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _aware(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"not an ISO 8601 time: {value!r}") from None
    if parsed.utcoffset() is None:
        raise ValueError(f"{value!r} has no UTC offset; a stored time must carry one")
    return parsed


def _check_now(now: datetime) -> datetime:
    if now.utcoffset() is None:
        raise ValueError(f"now must carry its UTC offset, got {now.isoformat()!r}")
    return now


# -- a run's prompt, timings and comparison -------------------------------------------------


def prompt_summary(spec: dict[str, Any], limit: int = 60) -> str:
    """A run's prompts on one short line: ``a red circle → a blue square``, cut to ``limit``
    characters with ``…``. Frame numbers, ``#`` comments and blank lines of a schedule are
    left out (a blend's per-prompt seeds and negatives too)."""
    prompts = (spec.get("prompts") or {}).get("keyframes")
    if prompts is not None:
        lines = [str(key.get("prompt", "")) for key in prompts]
    else:
        lines = [
            _FRAME_KEY.sub("", line)
            for line in prompts_text(spec).splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
    text = " → ".join(line.strip() for line in lines if line.strip())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def timing_rows(timings: dict[str, Any]) -> list[dict[str, str]]:
    """A run's stored timings as cells for ``st.table`` (plain text): ``{"stage", "time",
    "share"}`` for each stage in the order recorded, then the total (the wall time
    ``seconds``, else the clock's ``total``).

    A value that is not a number of seconds (a pulled run's) is shown as recorded, with no
    share.
    """
    total = next((timings[k] for k in ("seconds", "total") if _is_duration(timings.get(k))), None)
    rows = []
    for stage, value in [*_stages(timings), ("total", total)]:
        if stage == "total" and value is None:
            continue
        if not _is_duration(value):
            rows.append({"stage": plain(stage), "time": plain(repr(value)), "share": ""})
            continue
        share = f"{100 * value / total:.0f} %" if total else ""
        rows.append({"stage": plain(stage), "time": duration(value), "share": share})
    return rows


def timings_chart(timings: dict[str, Any]) -> go.Figure:
    """Where a run's time went: one horizontal bar per stage (seconds), in the order
    recorded, each labelled with its duration; stages that are not a number are left out."""
    import plotly.graph_objects as go  # only the History page needs plotly here

    stages = [(name, value) for name, value in _stages(timings) if _is_duration(value)]
    fig = go.Figure(
        go.Bar(
            # Plotly reads a little HTML in labels (links too): a pulled stage name is text.
            y=[html.escape(name) for name, _ in stages],
            x=[value for _, value in stages],
            text=[duration(value) for _, value in stages],
            orientation="h",
            hovertemplate="%{y}: %{text}<extra></extra>",
        )
    )
    fig.update_layout(
        height=60 + 28 * len(stages),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "seconds", "rangemode": "tozero"},
        yaxis={"autorange": "reversed", "automargin": True},
        showlegend=False,
    )
    return fig


def compare_rows(
    rows: list[tuple[str, Any, Any]], name_a: str, name_b: str
) -> list[dict[str, str]]:
    """``studio.spec.diff_specs`` rows as cells for ``st.table`` (which reads Markdown, and
    wraps long values): ``{"setting", name_a, name_b}``, every cell plain text; a setting
    missing on one side shows ``—``."""
    return [{"setting": plain(path), name_a: _cell(a), name_b: _cell(b)} for path, a, b in rows]


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    return plain(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))


def _stages(timings: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(str(name), value) for name, value in timings.items() if name not in _TOTALS]


def _is_duration(value: Any) -> bool:
    return _is_number(value) and math.isfinite(value) and value >= 0
