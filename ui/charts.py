"""Plotly figures for the pages. Pure: data in, figure out."""

from __future__ import annotations

import plotly.graph_objects as go

from studio.plan import AnimationPlan

__all__ = ["interpolation_chart"]


def interpolation_chart(plan: AnimationPlan) -> go.Figure:
    """Weight toward the next keyframe for every frame, with the keyframes marked."""
    frames = list(range(plan.frames))
    weights = plan.weights.weight.tolist()
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=frames,
            y=weights,
            mode="lines+markers",
            name="weight toward next keyframe",
            marker={"size": 4},
            hovertemplate="frame %{x}<br>weight %{y:.3f}<extra></extra>",
        )
    )
    for key in plan.schedule.keyframes:
        label = key.prompt if len(key.prompt) <= 28 else key.prompt[:27] + "…"
        fig.add_vline(x=key.frame, line_dash="dot", line_color="gray")
        fig.add_annotation(
            x=key.frame,
            y=1.08,
            text=f"{key.frame}: {label}",
            showarrow=False,
            textangle=-20,
            font={"size": 10},
            xanchor="left",
        )
    fig.update_layout(
        height=260,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        xaxis_title="frame",
        yaxis={"title": "weight", "range": [-0.05, 1.2]},
        showlegend=False,
    )
    return fig
