"""ControlNets in the one denoising loop: loading them, and their residuals as a UNet extra.

A ControlNet is a copy of the UNet's encoder that reads a control image (edges, depth, a
pose...) and returns residuals the UNet adds to its skip connections and middle block
(``down_block_additional_residuals``, ``mid_block_additional_residual``). ``ControlResiduals``
is a ``UNetExtra`` (``studio.pipeline.conditioning``): for every UNet call it runs each
ControlNet on the latents going in, with the same timestep and text states, scales each
frame's residuals by that frame's scale, and sums the nets' residuals (MultiControlNet).

Control images are held per frame, B rows, and batched like the text: a guided call of 2B
rows (``[uncond; cond]``) repeats them for the uncond half, an unguided one takes the last B.
A scale of exactly 0 for every row skips the net: the frame is exactly the one without it.

Each ControlNet is loaded through the model manager (``ModelManager.component``), once per
(reference, device, dtype), and shared: it is read, never changed. ``check_controlnet_ref``
reads a folder's config only, so a wrong folder is refused before a run is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from studio.errors import ModelLoadError
from studio.pipeline.conditioning import TextStates
from studio.pipeline.families import component_folder

if TYPE_CHECKING:
    from studio.media.control import ControlSource
    from studio.pipeline.models import LoadedModel, ModelManager
    from studio.spec.control import ControlSettings

__all__ = [
    "ControlResiduals",
    "check_controlnet_ref",
    "check_matches",
    "load_controlnet",
    "still_controls",
]


def _folder_config(ref: str) -> dict[str, Any]:
    """The ``config.json`` of ControlNet ``ref`` (``_folder``).

    Raises ``ModelLoadError`` for a path that is not a ControlNet folder.
    """
    path = component_folder(ref, "ControlNet")
    config_path = path / "config.json"
    if not path.is_dir() or not config_path.is_file():
        raise ModelLoadError(
            f"ControlNet {ref!r} is not a diffusers ControlNet folder (no config.json in it)"
        )
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"ControlNet {ref!r}: config.json cannot be read: {exc}") from None
    if not isinstance(config, dict) or config.get("_class_name") != "ControlNetModel":
        name = config.get("_class_name") if isinstance(config, dict) else None
        raise ModelLoadError(
            f"ControlNet {ref!r} holds a {name or 'model of unknown class'}, not a ControlNetModel"
        )
    return config


def check_controlnet_ref(ref: str, model_family: str | None = None) -> None:
    """Refuse, before a run is recorded, a ControlNet the studio cannot run (configs only).

    ``model_family``: the drawing model's family name, when its configs are at hand. SDXL
    ControlNets and SDXL models are refused: their residuals need SDXL's pooled text and time
    ids, which the studio's SDXL support does not hand ControlNets yet. Raises
    ``ModelLoadError`` naming the ControlNet and the reason.
    """
    config = _folder_config(ref)
    sdxl_net = config.get("addition_embed_type") == "text_time"
    if sdxl_net or (model_family or "").startswith("sdxl"):
        raise ModelLoadError(
            f"ControlNet {ref!r}: SDXL ControlNets are not supported yet (they need SDXL's "
            "pooled text and time ids); use an SD 1.x or 2.x model and ControlNet"
        )


def load_controlnet(
    manager: ModelManager, ref: str, device: torch.device, dtype: torch.dtype
) -> Any:
    """The ``ControlNetModel`` ``ref`` (folder, or Hub id in the local cache) on ``device`` in
    ``dtype``, loaded once per manager and shared. Raises ``ModelLoadError``."""
    key = ("controlnet", ref, str(device), str(dtype))
    return manager.component(key, lambda: _load(ref, device, dtype))


def _load(ref: str, device: torch.device, dtype: torch.dtype) -> Any:
    from diffusers import ControlNetModel

    _folder_config(ref)  # a wrong folder is named as such, not as a diffusers error
    folder = component_folder(ref, "ControlNet")
    try:
        net = ControlNetModel.from_pretrained(folder, dtype=dtype, local_files_only=True)
    except Exception as exc:  # diffusers raises many types for a missing or broken model
        raise ModelLoadError(f"could not load the ControlNet {ref} from {folder}: {exc}") from exc
    return net.to(device).eval().requires_grad_(False)


def check_matches(net: Any, ref: str, unet: Any, model: str) -> None:
    """Refuse a ControlNet made for another kind of model than ``unet`` (``ModelLoadError``)."""
    for name in ("cross_attention_dim", "block_out_channels", "in_channels"):
        a, b = net.config.get(name), unet.config.get(name)
        if a is not None and b is not None and list(_as_list(a)) != list(_as_list(b)):
            raise ModelLoadError(
                f"ControlNet {ref} was made for a model with {name} {a}, but {model} has {b} "
                "(an SD 1.x ControlNet on an SD 2.x model, or the other way round?)"
            )


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


@dataclass
class ControlResiduals:
    """A ``UNetExtra``: the summed residuals of ControlNets for one batch of B frames.

    ``nets``: the loaded ControlNets. ``images``: per net, the control images of the batch's
    frames, (B, 3, H, W) in [0, 1] on the device, in the nets' dtype. ``scales``: per net,
    (B,) scales of those frames.
    """

    nets: Sequence[Any]
    images: Sequence[torch.Tensor]
    scales: Sequence[torch.Tensor]

    def __post_init__(self) -> None:
        if not (len(self.nets) == len(self.images) == len(self.scales)):
            raise ValueError("one control image batch and one scale batch per ControlNet")
        rows = {int(i.shape[0]) for i in self.images} | {int(s.shape[0]) for s in self.scales}
        if len(rows) > 1:
            raise ValueError(f"control images and scales have different row counts: {rows}")

    def __call__(self, x: torch.Tensor, t: torch.Tensor, text: TextStates) -> dict[str, Any]:
        n = x.shape[0]
        down: list[torch.Tensor] | None = None
        mid: torch.Tensor | None = None
        for net, images, scales in zip(self.nets, self.images, self.scales, strict=True):
            if not bool(torch.any(scales != 0)):
                continue  # an off net changes nothing, so the frame is exactly the plain one
            rows_image = _rows(images, n)
            rows_scale = _rows(scales, n).to(device=x.device, dtype=x.dtype)
            down_res, mid_res = net(
                x.to(net.dtype),
                t,
                encoder_hidden_states=text.states.to(device=x.device, dtype=net.dtype),
                controlnet_cond=rows_image.to(device=x.device, dtype=net.dtype),
                conditioning_scale=1.0,
                return_dict=False,
            )
            weight = rows_scale.view(-1, 1, 1, 1)
            down_res = [r.to(x.dtype) * weight for r in down_res]
            mid_res = mid_res.to(x.dtype) * weight
            down = (
                down_res if down is None else [a + b for a, b in zip(down, down_res, strict=True)]
            )
            mid = mid_res if mid is None else mid + mid_res
        if down is None or mid is None:
            return {}
        return {"down_block_additional_residuals": down, "mid_block_additional_residual": mid}


def _rows(per_frame: torch.Tensor, n: int) -> torch.Tensor:
    """``per_frame`` (B, ...) for a UNet call of ``n`` rows: B (cond only) or 2B (guided)."""
    b = per_frame.shape[0]
    if n == b:
        return per_frame
    if n % b:
        raise ValueError(f"a UNet call of {n} rows cannot take control images of {b} frames")
    return per_frame.repeat(n // b, *([1] * (per_frame.dim() - 1)))


def still_controls(
    control: ControlSettings,
    sources: list[ControlSource],
    *,
    loaded: LoadedModel,
    manager: ModelManager,
    width: int,
    height: int,
) -> list[ControlResiduals]:
    """The UNet extra of ControlNets that steer every latent alike (a blend's branches, one
    latent each): each net's control image, preprocessed once, and its constant scale.

    ``sources``: ``studio.media.control.check_control_media`` of ``control`` (images only).
    Returns ``[]`` without ControlNets. Raises ``ModelLoadError`` for a ControlNet that cannot
    be loaded or was made for another kind of model.
    """
    from studio.languages.curves import parse_curve
    from studio.media.control import ControlMaps

    if not control.nets:
        return []
    nets = []
    for net in control.nets:
        model = load_controlnet(manager, net.model, loaded.device, loaded.dtype)
        check_matches(model, net.model, loaded.pipe.unet, loaded.ref)
        nets.append(model)
    maps = ControlMaps(sources, width, height)
    try:
        first = maps.frame(0)
    finally:
        maps.close()
    images = [
        (torch.from_numpy(m).permute(2, 0, 1).float() / 255)[None].to(loaded.device, loaded.dtype)
        for m in first
    ]
    scales = [
        torch.tensor([parse_curve(net.scale, names=("t",)).value_at(0)]) for net in control.nets
    ]
    return [ControlResiduals(nets, images, scales)]
