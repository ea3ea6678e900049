"""Plotly figures for the pages. Pure: data in, figure out."""

from __future__ import annotations

import plotly.graph_objects as go

from studio.plan import AnimationPlan, blend_position

__all__ = ["interpolation_chart"]


def _short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def interpolation_chart(plan: AnimationPlan) -> go.Figure:
    """Where each frame sits on the way from keyframe to keyframe.

    The y axis counts keyframes (0 = the first prompt, 1 = the second, ...), so a linear walk
    is a straight ramp, sine easing an S between each pair, and each keyframe a marked point.
    """
    keys = plan.schedule.keyframes
    frames = list(range(plan.frames))
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=frames,
            y=blend_position(plan).tolist(),
            mode="lines+markers" if plan.frames <= 200 else "lines",
            marker={"size": 4},
            hovertemplate="frame %{x}<br>position %{y:.3f}<extra></extra>",
            name="blend",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[k.frame for k in keys],
            y=list(range(len(keys))),
            mode="markers",
            marker={"size": 10, "symbol": "diamond"},
            text=[k.prompt for k in keys],
            hovertemplate="keyframe at frame %{x}<br>%{text}<extra></extra>",
            name="keyframes",
        )
    )
    fig.update_layout(
        height=280,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "frame", "rangemode": "tozero"},
        yaxis={
            "title": "keyframe",
            "tickmode": "array",
            "tickvals": list(range(len(keys))),
            "ticktext": [f"{k.frame}: {_short(k.prompt)}" for k in keys],
            "automargin": True,
        },
        showlegend=False,
    )
    return fig
