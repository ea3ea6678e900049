"""Plotly figures for the pages. Pure: data in, figure out."""

from __future__ import annotations

import html

import plotly.graph_objects as go

from studio.animation.plan import AnimationPlan, blend_position
from studio.blend.plan import BlendPlan

__all__ = [
    "audio_chart",
    "blend_tree_chart",
    "interpolation_chart",
    "planned_blend_frames",
    "smoothness_chart",
]


def _label(text: str) -> str:
    """A prompt as Plotly shows it: its labels read a subset of HTML (links included), and
    a prompt may come from someone else's session."""
    return html.escape(text, quote=False)


def _short(text: str, limit: int = 32) -> str:
    return _label(text if len(text) <= limit else text[: limit - 1] + "…")


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
            text=[_label(k.prompt) for k in keys],
            hovertemplate="keyframe at frame %{x}<br>%{text}<extra></extra>",
            name="keyframes",
        )
    )
    ticks = [f"{k.frame}: {_short(k.prompt)}" for k in keys]
    if plan.loop:  # the closing segment heads for the first keyframe, one frame past the end
        fig.add_trace(
            go.Scatter(
                x=[plan.frames],
                y=[len(keys)],
                mode="markers",
                marker={"size": 10, "symbol": "diamond-open"},
                text=[_label(keys[0].prompt)],
                hovertemplate="frame 0 again (loop)<br>%{text}<extra></extra>",
                name="loop",
            )
        )
        ticks.append(f"loop: {_short(keys[0].prompt)}")
    fig.update_layout(
        height=280,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "frame", "rangemode": "tozero"},
        yaxis={
            "title": "keyframe",
            "tickmode": "array",
            "tickvals": list(range(len(ticks))),
            "ticktext": ticks,
            "automargin": True,
        },
        showlegend=False,
    )
    return fig


def planned_blend_frames(plan: BlendPlan) -> list[dict]:
    """The diffusion frames of ``plan``'s movie as uniform insertion would place them.

    One dict per frame, in the order made: ``x`` (prompt position over the whole movie: ``t``
    plus the position within transition ``t``), ``level`` (0 for keyframes),
    ``injection_step`` and ``parents`` (the ``x`` of its two neighbours when made; None for a
    keyframe). Adaptive insertion makes the same number of frames at the same steps, but
    puts each where the images differ most, which only the render knows.
    """
    frames = [
        {"x": float(j), "level": 0, "injection_step": 0, "parents": None}
        for j in range(len(plan.prompts))
    ]
    level_of = {lv.injection_step: i + 1 for i, lv in enumerate(plan.tree.levels)}
    for t in range(plan.transitions):
        placed = [0.0, 1.0]
        for k in plan.tree.insertions()[: plan.in_betweens(t)]:
            widths = [b - a for a, b in zip(placed, placed[1:], strict=False)]
            i = widths.index(max(widths))  # the leftmost widest gap, as the engine bisects
            a, b = placed[i], placed[i + 1]
            placed.insert(i + 1, (a + b) / 2)
            frames.append(
                {
                    "x": t + (a + b) / 2,
                    "level": level_of[k],
                    "injection_step": k,
                    "parents": (t + a, t + b),
                }
            )
    return frames


def blend_tree_chart(plan: BlendPlan) -> go.Figure:
    """The tree of ``plan``: prompt position on x, level on y (keyframes at the top), a line
    from each in-between frame up to each of its two parents; each level's injection step and
    own steps label the y axis and every frame's hover."""
    frames = planned_blend_frames(plan)
    level_at = {f["x"]: f["level"] for f in frames}
    xs: list[float | None] = []
    ys: list[float | None] = []
    for f in frames:
        if f["parents"] is None:
            continue
        for parent in f["parents"]:
            xs += [parent, f["x"], None]
            ys += [level_at[parent], f["level"], None]
    steps = plan.tree.steps
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=xs, y=ys, mode="lines", line={"width": 1, "color": "#9aa"}, hoverinfo="skip")
    )
    keys = [f for f in frames if f["parents"] is None]
    fig.add_trace(
        go.Scatter(
            x=[f["x"] for f in keys],
            y=[0] * len(keys),
            mode="markers",
            marker={"size": 12, "symbol": "diamond"},
            text=[_label(p) for p in plan.prompts],
            hovertemplate=f"keyframe: all {steps} steps<br>%{{text}}<extra></extra>",
        )
    )
    branches = [f for f in frames if f["parents"] is not None]
    fig.add_trace(
        go.Scatter(
            x=[f["x"] for f in branches],
            y=[f["level"] for f in branches],
            mode="markers",
            marker={"size": 7},
            customdata=[[f["injection_step"], steps - f["injection_step"]] for f in branches],
            hovertemplate="position %{x:.3f}<br>branches at step %{customdata[0]}"
            "<br>%{customdata[1]} own steps<extra></extra>",
        )
    )
    levels = plan.tree.levels
    fig.update_layout(
        height=120 + 40 * len(levels),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={
            "title": "prompt",
            "tickmode": "array",
            "tickvals": list(range(len(plan.prompts))),
            "ticktext": [_short(p, 24) for p in plan.prompts],
        },
        yaxis={
            "title": "level",
            "autorange": "reversed",
            "tickmode": "array",
            "tickvals": list(range(len(levels) + 1)),
            "ticktext": ["keyframes"]
            + [
                f"{i + 1}: step {lv.injection_step} ({steps - lv.injection_step} own)"
                for i, lv in enumerate(levels)
            ],
            "automargin": True,
        },
        showlegend=False,
    )
    return fig


def audio_chart(wave_times, wave_peaks, found) -> go.Figure:
    """A track on a frame axis: its waveform, the onset strength of the analysed component,
    and the key frames found (``found``: ``studio.audio.analysis.AudioKeyframes``; the waveform from
    ``studio.audio.analysis.waveform``). Time in seconds shows in each hover."""
    fps = found.fps
    fig = go.Figure()
    frames = [t * fps for t in wave_times]
    peaks = list(wave_peaks)
    fig.add_trace(
        go.Scatter(
            x=frames + frames[::-1],
            y=peaks + [-p for p in peaks[::-1]],
            fill="toself",
            mode="none",
            fillcolor="rgba(120, 140, 160, 0.45)",
            hoverinfo="skip",
            name="waveform",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[t * fps for t in found.onset_times],
            y=list(found.onset_strength),
            mode="lines",
            line={"width": 1.5},
            customdata=list(found.onset_times),
            hovertemplate="frame %{x:.1f} (%{customdata:.2f} s)<br>onset strength %{y:.2f}"
            "<extra></extra>",
            name=f"onset strength ({found.component})",
        )
    )
    xs: list[float | None] = []
    ys: list[float | None] = []
    for frame in found.frames:
        xs += [frame, frame, None]
        ys += [-1.0, 1.05, None]
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            line={"width": 1, "dash": "dot"},
            hoverinfo="skip",
            name="key frames",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=list(found.frames),
            y=[1.05] * len(found.frames),
            mode="markers",
            marker={"size": 9, "symbol": "triangle-down"},
            customdata=list(found.timestamps),
            hovertemplate="key frame %{x} (%{customdata:.3f} s)<extra></extra>",
            name="key frames",
            showlegend=False,
        )
    )
    fig.update_layout(
        height=300,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": f"frame (at {fps:g} fps)", "rangemode": "tozero"},
        yaxis={"title": "amplitude / strength", "range": [-1.05, 1.15]},
        legend={"orientation": "h", "y": -0.25},
    )
    return fig


def smoothness_chart(score: dict) -> go.Figure:
    """Where a render jumps: 1 - SSIM from each frame to the next (``score`` is a run's
    ``smoothness``, ``studio.media.smoothness``), one point per frame from frame 1, with the
    mean as a dashed line and the largest jump marked. Values that are not numbers (a pulled
    run's) are left out."""
    points = [
        (k + 1, d)
        for k, d in enumerate(score.get("distances") or [])
        if isinstance(d, int | float) and not isinstance(d, bool)
    ]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[k for k, _ in points],
            y=[d for _, d in points],
            mode="lines+markers" if len(points) <= 200 else "lines",
            marker={"size": 4},
            hovertemplate="frame %{x}: 1 - SSIM %{y:.4f} from the frame before<extra></extra>",
            name="change",
        )
    )
    top, value_at = score.get("max_jump_frame"), dict(points)
    if isinstance(top, int) and top in value_at:
        fig.add_trace(
            go.Scatter(
                x=[top],
                y=[value_at[top]],
                mode="markers",
                marker={"size": 12, "symbol": "x", "color": "crimson"},
                hovertemplate="largest jump: into frame %{x} (%{y:.4f})<extra></extra>",
                name="largest jump",
            )
        )
    mean = score.get("mean")
    if points and isinstance(mean, int | float):
        fig.add_hline(y=mean, line_dash="dash", line_color="gray")
    fig.update_layout(
        height=240,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "frame", "rangemode": "tozero"},
        yaxis={"title": "1 - SSIM to the frame before", "rangemode": "tozero"},
        showlegend=False,
    )
    return fig
