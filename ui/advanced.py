"""The *Advanced settings* expander both render pages share: memory savers (and what
``memory: auto`` picks on this device), precision, torch.compile and fast mode, weight
variant, Hub revision, the live preview's decoder and rate, scheduler options and the custom
pipeline with its warning and trust box.

The fields are the diffusion group's (``ADVANCED_FIELDS``), drawn from their descriptions
with the page's prefix (``ps.memory``, ``blend.variant``). Two widgets are converted: the
scheduler options are a text box of ``KEY=VALUE`` lines (``<prefix>scheduler_options``),
and ``<prefix>trust_custom`` is the box that lets a custom pipeline run
(docs/models.md#custom-pipelines): it clears whenever the source changes, a restored run's
included, so a pipeline pulled with a session never runs on an old tick.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from studio.errors import SpecError
from studio.pipeline.schedulers import check_scheduler_options
from studio.spec.common import DiffusionSettings
from studio.spec.fields import describe
from studio.spec.loading import custom_pipeline_warning, options_text, parse_options
from ui.fields import draw_field
from ui.state import get_value, keep, seed, set_value

__all__ = ["advanced_values", "draw_advanced", "keep_advanced", "restore_advanced"]

_MEMORY = ("attention_slicing", "vae_slicing", "vae_tiling", "cpu_offload")


def keep_advanced(prefix: str, drawn: bool = True) -> None:
    """Kept values of the converted widgets (call with the page's other ``keep`` calls);
    ``drawn``: whether this page draws them (else they only get a default)."""
    for key, default in ((prefix + "scheduler_options", ""), (prefix + "trust_custom", False)):
        (keep if drawn else seed)(key, default)


def draw_advanced(prefix: str) -> None:
    """The expander, keyed ``prefix`` + field name; its fields' values must be kept."""
    described = {f.name: f for f in describe(DiffusionSettings)}
    with st.expander("Advanced settings"):
        c1, c2 = st.columns(2)
        draw_field(c1, described["memory"], prefix + "memory")
        for name in _MEMORY:
            draw_field(c1, described[name], prefix + name)
        c1.caption(_auto_caption(prefix))
        recorded = _last_render_caption(prefix)
        if recorded:
            c1.caption(recorded)
        draw_field(c2, described["variant"], prefix + "variant", placeholder="fp16")
        draw_field(c2, described["revision"], prefix + "revision", placeholder="main")
        for name in ("dtype", "compile", "fast"):  # the speed paths (docs/models.md#gpu-paths)
            draw_field(c2, described[name], prefix + name)
        draw_field(c2, described["preview"], prefix + "preview", placeholder="auto")
        draw_field(c2, described["preview_seconds"], prefix + "preview_seconds")
        c2.text_area(
            "Scheduler options",
            key=prefix + "scheduler_options",
            placeholder="use_karras_sigmas=true\ntimestep_spacing=trailing",
            help="One KEY=VALUE a line: options of the scheduler's config (its class's own "
            "parameters); values read as JSON (true, 3, 0.5), else as text.",
        )
        draw_field(st, described["custom_pipeline"], prefix + "custom_pipeline")
        source = str(get_value(prefix + "custom_pipeline") or "")
        if st.session_state.get(prefix + "_trust_for") != source:
            set_value(prefix + "trust_custom", False)  # a tick is for one source only
            st.session_state[prefix + "_trust_for"] = source
        if source:
            st.warning(custom_pipeline_warning(source))
            st.checkbox(f"I trust this code: run {source}", key=prefix + "trust_custom")


def advanced_values(prefix: str, scheduler: str) -> dict[str, Any]:
    """The diffusion fields the converted widgets hold (``scheduler_kwargs``); raises
    ``SpecError`` for bad option lines, or a custom pipeline the trust box does not cover."""
    options = parse_options(str(get_value(prefix + "scheduler_options") or ""))
    source = str(get_value(prefix + "custom_pipeline") or "")
    trusted = get_value(prefix + "trust_custom") and (
        st.session_state.get(prefix + "_trust_for") == source
    )
    if source and not trusted:
        raise SpecError(
            f"the custom pipeline {source!r} runs Python code: tick 'I trust this code' in "
            "Advanced settings to render with it"
        )
    check_scheduler_options(scheduler, options)  # imports diffusers only when there are some
    return {"scheduler_kwargs": options}


def restore_advanced(prefix: str, d: DiffusionSettings) -> None:
    """Put a spec's scheduler options back, and clear the trust box (a restored custom
    pipeline must be trusted again, here and now)."""
    set_value(prefix + "scheduler_options", options_text(d.scheduler_kwargs))
    set_value(prefix + "trust_custom", False)
    st.session_state.pop(prefix + "_trust_for", None)


def _auto_caption(prefix: str) -> str:
    """What ``memory: auto`` picks on the sidebar's device for the page's frame size."""
    from studio.pipeline.memory import choose_memory, device_facts

    try:
        facts = device_facts(st.session_state.get("sidebar.device", "auto"))
    except SpecError as exc:
        return str(exc)
    choice = choose_memory(
        facts,
        width=int(get_value(prefix + "width") or 512),
        height=int(get_value(prefix + "height") or 512),
    )
    on = [name.replace("_", " ") for name in _MEMORY if getattr(choice, name)]
    return f"auto on {facts.type}: {', '.join(on) or 'nothing'} ({'; '.join(choice.reasons)})"


def _last_render_caption(prefix: str) -> str:
    """What the page's last render recorded (its ``started`` event): the memory savers it
    used and the values that came from the model; '' before any."""
    from ui.resources import get_jobs

    job_id = st.session_state.get(prefix + "job")
    job = get_jobs().get(job_id) if job_id else None
    plan = getattr(job, "plan", None) or {}
    memory = plan.get("memory")
    if not memory:
        return ""
    on = [name.replace("_", " ") for name in _MEMORY if memory.get(name)]
    text = f"Last render here used: {', '.join(on) or 'no memory savers'} (memory {memory['mode']})"
    brought = plan.get("model_defaults") or {}
    if brought:
        text += "; from the model: " + ", ".join(f"{k} {v:g}" for k, v in brought.items())
    return text
