"""Prompt Schedule's ControlNet panel: the animation's ControlNets, each with its control
image or video, preprocessor, scale curve and a preview of its first control map.

The list lives in one kept value (``ps.controlnets``: one dict of ``ControlNetItem`` fields per
ControlNet, ``ui.state``), so it survives page switches and History's "restore settings"
(``set_controlnets``); each net's widgets are keyed ``ps.cn<i>.<field>`` and written back
into the list every run. A control file is uploaded as input media of the session
(``ui.uploads.save_upload``, checked before it is kept) and held as its path relative to
``STUDIO_HOME``, as the video input is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from studio.errors import StudioError
from studio.spec.control import PREPROCESSORS, ControlNetItem
from studio.spec.fields import describe
from ui.state import get_value, keep, set_value

__all__ = ["KEY", "controlnets", "draw_control_panel", "set_controlnets"]

KEY = "ps.controlnets"
# ui.media_input's lists; not imported from there, which imports ui.spec_form (and so this).
IMAGE_TYPES = ["png", "jpg", "jpeg", "webp", "bmp"]
VIDEO_TYPES = ["mp4", "mov", "webm", "mkv", "avi", "gif"]
_FIELDS = ("model", "preprocess", "scale", "low_threshold", "high_threshold")
_HELP = {f.name: f.help for f in describe(ControlNetItem)}


def _nets() -> list[dict[str, Any]]:
    return [dict(n) for n in get_value(KEY, None) or []]


def controlnets() -> tuple[ControlNetItem, ...]:
    """The panel's ControlNets, for ``ui.spec_form.spec_from_state``."""
    return tuple(ControlNetItem(**n) for n in _nets())


def set_controlnets(nets: tuple[ControlNetItem, ...] | list[dict[str, Any]]) -> None:
    """Put ``nets`` into the panel (restore settings), widgets included."""
    items = [n.model_dump() if isinstance(n, ControlNetItem) else dict(n) for n in nets]
    set_value(KEY, items)
    for i, net in enumerate(items):
        for name in _FIELDS:
            set_value(f"ps.cn{i}.{name}", net[name])


def _add() -> None:
    set_controlnets([*_nets(), ControlNetItem(model="").model_dump()])


def _remove(i: int) -> None:
    nets = _nets()
    del nets[i]
    set_controlnets(nets)


def draw_control_panel(session: str) -> None:
    """The panel (an expander), below the page's size and fps widgets (previews use them)."""
    width, height = get_value("ps.width", 64), get_value("ps.height", 64)
    fps = get_value("ps.fps", 12)
    nets = _nets()
    with st.expander(f"ControlNets ({len(nets)})", expanded=bool(nets)):
        st.caption(
            "Steer every frame with ControlNets (their residuals are summed): each takes a "
            "control image for every frame or a control video with one frame per output "
            "frame, a preprocessor and a scale curve of t. The ControlNet is a diffusers "
            "folder or a Hub id in the local cache, made for the model's family."
        )
        for i in range(len(nets)):
            nets[i] = _draw_net(i, nets[i], session, width, height, fps)
        set_value(KEY, nets)
        st.button("Add a ControlNet", key="ps.cn_add", on_click=_add)


def _draw_net(
    i: int, net: dict[str, Any], session: str, width: int, height: int, fps: int
) -> dict[str, Any]:
    st.markdown(f"**ControlNet {i + 1}**")
    for name in _FIELDS:
        keep(f"ps.cn{i}.{name}", net[name])
    c1, c2, c3 = st.columns([3, 1, 2])
    c1.text_input("ControlNet folder or Hub id", key=f"ps.cn{i}.model", help=_HELP["model"])
    c2.selectbox(
        "Preprocessor", PREPROCESSORS, key=f"ps.cn{i}.preprocess", help=_HELP["preprocess"]
    )
    c3.text_input("Scale curve", key=f"ps.cn{i}.scale", help=_HELP["scale"])
    if st.session_state[f"ps.cn{i}.preprocess"] == "canny":
        t1, t2 = st.columns(2)
        for where, name in ((t1, "low_threshold"), (t2, "high_threshold")):
            where.number_input(
                name.replace("_", " ").capitalize(),
                min_value=0.0,
                max_value=1.0,
                step=0.05,
                key=f"ps.cn{i}.{name}",
                help=_HELP[name],
            )
    net = {**net, **{name: st.session_state[f"ps.cn{i}.{name}"] for name in _FIELDS}}
    upload = st.file_uploader(
        "Control image or video", type=IMAGE_TYPES + VIDEO_TYPES, key=f"ps.cn{i}.upload"
    )
    seen = f"ps.cn{i}.upload_id"
    if upload is not None and st.session_state.get(seen) != upload.file_id:
        st.session_state[seen] = upload.file_id
        kind = "image" if Path(upload.name).suffix.lower().lstrip(".") in IMAGE_TYPES else "video"
        try:
            net = {**net, "image": "", "video": "", kind: _store(upload, session, kind)}
        except StudioError as exc:
            st.error(str(exc))  # names the file the user sent
    source = net["video"] or net["image"]
    p1, p2 = st.columns([4, 1])
    p1.caption(
        f"Control {'video' if net['video'] else 'image'}: `{source}`"
        if source
        else "No control image or video yet."
    )
    p2.button("Remove", key=f"ps.cn{i}.remove", on_click=_remove, args=(i,))
    if source:
        try:
            st.image(
                _first_map(ControlNetItem(**net), width, height, fps),
                caption="First control frame, preprocessed",
                width=192,
            )
        except (StudioError, ValueError) as exc:
            st.error(str(exc))
    return net


def _store(upload: Any, session: str, kind: str) -> str:
    from studio.media.inputs import probe_image, probe_video
    from ui.uploads import save_upload

    check = probe_video if kind == "video" else probe_image
    return save_upload(upload, session, f"control-{kind}", check=check)


def _first_map(net: ControlNetItem, width: int, height: int, fps: int) -> np.ndarray:
    """The net's first control frame at the animation's size, through its preprocessor."""
    from studio.media.control import ControlMaps, check_control_media
    from studio.spec.control import ControlSettings

    sources = check_control_media(ControlSettings(nets=(net,)), fps=fps, frames=1)
    maps = ControlMaps(sources, width, height, fps=fps)
    try:
        return maps.frame(0)[0]
    finally:
        maps.close()
