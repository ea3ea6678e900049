"""A learned frame interpolator of the RIFE v4.2x design, run on weights the user points at.

The studio ships no weights: ``load_interpolator(path, device)`` reads a state dict (``.pkl``
or ``.pth`` through ``torch.load(weights_only=True)``, or ``.safetensors``; a folder means its
``flownet.pkl``) of the "flownet" layout published for RIFE v4.22-v4.26 and refuses, with
``ModelLoadError`` naming the first key that differs, any other layout. Nothing is fetched.

The network (IFNet) estimates, for a moment ``t`` between frames ``a`` and ``b``, a flow from
that moment back to each frame and a fusion mask, coarse to fine: a shared encoder gives each
frame a few feature channels; four or five IFBlocks look at the frames at 1/8 (or 1/16), ...,
1/2 and 1/1 of their size, the first from the frames, the later ones from the frames and
features backward-warped by the flow so far, and each adds a correction to the flow (4
channels: to ``a``, to ``b``), a new mask logit and 8 channels of context for the next
block. The frame is ``sigmoid(mask) * warp(a) + (1 - sigmoid(mask)) * warp(b)``. Warping is
bilinear ``grid_sample`` with the border repeated. The versions differ in sizes only (the
number of blocks and their widths, the encoder's channels): ``IFNetLayout.of(state)`` reads
them from the file, and every tensor must then have the shape that layout gives it. The
coarsest block works at 1/(4 x its scale) of the padded frame, so frames are padded (edges
repeated) to a multiple of that (64 with five blocks) and cropped back.

``at(0)`` and ``at(1)`` are the two frames themselves; in between, the network runs once per
moment in float32 on the render's device (the frames' features, which do not depend on the
moment, once per pair), deterministic for the same frames and moment.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from studio.errors import ModelLoadError
from studio.media.paths import resolve_media_path

__all__ = [
    "IFNet",
    "IFNetLayout",
    "LearnedInterpolator",
    "LearnedPair",
    "check_interpolator",
    "load_interpolator",
    "read_state_dict",
]

# Parts of a training checkpoint that inference does not use.
_TRAINING_ONLY = ("teacher.", "caltime.")


@dataclass(frozen=True)
class IFNetLayout:
    """The sizes of one IFNet: each block's width (coarsest first), the encoder's hidden and
    output (feature) channels, and the context channels a block hands to the next. The
    default is RIFE v4.25's; v4.22 is ``IFNetLayout((256, 192, 96, 48), hidden=32,
    features=8)``."""

    widths: tuple[int, ...] = (192, 128, 96, 64, 32)
    hidden: int = 16
    features: int = 16
    context: int = 8

    @property
    def scales(self) -> tuple[int, ...]:
        """Each block's view: the frame at 1/scale of its size (..., 4, 2, 1)."""
        return tuple(2 ** (len(self.widths) - 1 - i) for i in range(len(self.widths)))

    @property
    def multiple(self) -> int:
        """What frame sides must divide by: the coarsest block halves 1/scale twice more."""
        return 4 * self.scales[0]

    def block_inputs(self, i: int) -> int:
        """Block ``i``'s input channels: both frames, both frames' features and the moment;
        after the first, also the mask logit, the context and the flow so far."""
        first = 3 + 3 + 2 * self.features + 1
        return first if i == 0 else first + 1 + self.context + 4

    @classmethod
    def of(cls, state: dict[str, torch.Tensor]) -> IFNetLayout:
        """The layout a state dict's sizes say; ``KeyError`` naming a key it lacks."""
        widths = []
        while f"block{len(widths)}.conv0.1.0.weight" in state:
            widths.append(state[f"block{len(widths)}.conv0.1.0.weight"].shape[0])
        if not widths:
            raise KeyError("block0.conv0.1.0.weight")
        for key in ("encode.cnn0.weight", "encode.cnn3.weight", "block0.lastconv.0.weight"):
            if key not in state:
                raise KeyError(key)
        out = state["block0.lastconv.0.weight"].shape[1] // 4  # 4 per channel: pixel shuffle
        return cls(
            widths=tuple(int(w) for w in widths),
            hidden=int(state["encode.cnn0.weight"].shape[0]),
            features=int(state["encode.cnn3.weight"].shape[1]),
            context=int(out) - 5,
        )


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.LeakyReLU(0.2))


class _Residual(nn.Module):
    """A 3x3 convolution added back to its input, scaled per channel by a learned ``beta``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones(1, width, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x) * self.beta + x, 0.2)


class _Encoder(nn.Module):
    """Per-frame features at full size: (N, 3, H, W) -> (N, features, H, W)."""

    def __init__(self, hidden: int, features: int) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(3, hidden, 3, 2, 1)
        self.cnn1 = nn.Conv2d(hidden, hidden, 3, 1, 1)
        self.cnn2 = nn.Conv2d(hidden, hidden, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(hidden, features, 4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in (self.cnn0, self.cnn1, self.cnn2):
            x = F.leaky_relu(layer(x), 0.2)
        return self.cnn3(x)


class _IFBlock(nn.Module):
    """One level of the cascade: its input seen at 1/scale, two stride-2 convolutions, eight
    residual ones, and a transposed convolution plus pixel shuffle back to 1/scale, then
    resized to full size: flow (4 channels, in full-size pixels), mask logit (1), context."""

    def __init__(self, cin: int, width: int, context: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_conv(cin, width // 2, 2), _conv(width // 2, width, 2))
        self.convblock = nn.Sequential(*(_Residual(width) for _ in range(8)))
        out = 4 + 1 + context
        self.lastconv = nn.Sequential(
            nn.ConvTranspose2d(width, 4 * out, 4, 2, 1), nn.PixelShuffle(2)
        )

    def forward(
        self, x: torch.Tensor, flow: torch.Tensor | None, scale: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        size = x.shape[-2:]
        small = (size[0] // scale, size[1] // scale)
        x = _resize(x, small)
        if flow is not None:
            x = torch.cat((x, _resize(flow, small) / scale), 1)
        out = _resize(self.lastconv(self.convblock(self.conv0(x))), size)
        return out[:, :4] * scale, out[:, 4:5], out[:, 5:]


class IFNet(nn.Module):
    """The interpolator: ``net(a, b, t)`` with ``a``, ``b`` of shape (N, 3, H, W) in [0, 1]
    (H and W multiples of ``layout.multiple``) gives the frame at moment ``t`` in (N, 3, H, W).
    Parameter names are those of the published state dicts (``block0``, ``block1``, ...,
    ``encode``)."""

    def __init__(self, layout: IFNetLayout | None = None) -> None:
        super().__init__()
        self.layout = layout = layout or IFNetLayout()
        for i, width in enumerate(layout.widths):
            self.add_module(f"block{i}", _IFBlock(layout.block_inputs(i), width, layout.context))
        self.encode = _Encoder(layout.hidden, layout.features)

    def forward(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        t: float,
        features: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """``features``: ``(encode(a), encode(b))`` when the caller kept them (they do not
        depend on ``t``)."""
        moment = a.new_full((a.shape[0], 1, *a.shape[-2:]), float(t))
        feat_a, feat_b = features or (self.encode(a), self.encode(b))
        flow = mask = context = None
        warped_a, warped_b = a, b
        for i, scale in enumerate(self.layout.scales):
            block = getattr(self, f"block{i}")
            if flow is None:
                x = torch.cat((a, b, feat_a, feat_b, moment), 1)
                flow, mask, context = block(x, None, scale)
            else:
                wf_a, wf_b = _warp(feat_a, flow[:, :2]), _warp(feat_b, flow[:, 2:])
                x = torch.cat((warped_a, warped_b, wf_a, wf_b, moment, mask, context), 1)
                step, mask, context = block(x, flow, scale)
                flow = flow + step
            warped_a, warped_b = _warp(a, flow[:, :2]), _warp(b, flow[:, 2:])
        weight = torch.sigmoid(mask)
        return warped_a * weight + warped_b * (1 - weight)


def _resize(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: output pixel (x, y) samples ``image`` at (x + flow_x, y + flow_y)."""
    n, _, h, w = image.shape
    ys = torch.arange(h, device=image.device, dtype=image.dtype).view(1, h, 1)
    xs = torch.arange(w, device=image.device, dtype=image.dtype).view(1, 1, w)
    # align_corners=True: -1 and 1 are the centres of the first and last pixels.
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


# -- weights ----------------------------------------------------------------------------------


def _weights_file(path: str | Path) -> Path:
    found = resolve_media_path(path)
    if found.is_dir():
        found = found / "flownet.pkl"
    if not found.is_file():
        raise ModelLoadError(
            f"interpolator weights {path} not found: give a RIFE v4.2x flownet.pkl, .pth or "
            ".safetensors file (or the folder holding flownet.pkl)"
        )
    return found


def read_state_dict(path: str | Path) -> tuple[dict[str, torch.Tensor], IFNetLayout]:
    """The tensors of a weights file (on the CPU, a ``module.`` prefix stripped) and the
    layout they fit. ``ModelLoadError`` naming the file and the first key that is missing,
    unexpected or of another shape than the layout its sizes say."""
    found = _weights_file(path)
    try:
        if found.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw: Any = load_file(str(found), device="cpu")
        else:
            raw = torch.load(found, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle with code in it, a truncated file, not weights at all
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"interpolator weights {found} cannot be read: {reason}") from None
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise ModelLoadError(f"interpolator weights {found} are not a state dict of tensors")
    state = {k.removeprefix("module."): v for k, v in raw.items()}
    return state, _check_layout(state, found)


def _check_layout(state: dict[str, torch.Tensor], found: Path) -> IFNetLayout:
    where = f"interpolator weights {found} are not of the RIFE v4.2x flownet layout"
    try:
        layout = IFNetLayout.of(state)
        with torch.device("meta"):
            expected = IFNet(layout).state_dict()
    except KeyError as exc:
        raise ModelLoadError(f"{where}: key {exc.args[0]} is missing") from None
    except (RuntimeError, ValueError) as exc:  # sizes no network has (a width of 0, ...)
        raise ModelLoadError(f"{where}: its sizes do not make a network ({exc})") from None
    for key, tensor in expected.items():
        if key not in state:
            raise ModelLoadError(f"{where}: key {key} is missing")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise ModelLoadError(
                f"{where}: key {key} has shape {list(state[key].shape)}, expected "
                f"{list(tensor.shape)}"
            )
    for key in state:
        if key not in expected and not key.startswith(_TRAINING_ONLY):
            raise ModelLoadError(f"{where}: unexpected key {key}")
    return layout


def check_interpolator(path: str | Path) -> None:
    """Refuse before any model work a weights file that is missing or of another layout."""
    read_state_dict(path)


class LearnedInterpolator:
    """An IFNet with loaded weights on ``device``; ``between(a, b).at(t)`` makes frames."""

    def __init__(self, net: IFNet, device: torch.device) -> None:
        self.net, self.device = net, device

    def between(self, a: np.ndarray, b: np.ndarray) -> LearnedPair:
        return LearnedPair(self, a, b)


class LearnedPair:
    """Frames between two ``(H, W, 3)`` uint8 images of the same size: ``at(t)`` for t in
    [0, 1] is an ``(H, W, 3)`` uint8 image; ``at(0)`` is ``a``, ``at(1)`` is ``b``."""

    def __init__(self, model: LearnedInterpolator, a: np.ndarray, b: np.ndarray) -> None:
        if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"need two (H, W, 3) images of one size, got {a.shape} and {b.shape}")
        self.model, self.a, self.b = model, a, b
        multiple = model.net.layout.multiple
        self._pa, self._pb = (_padded(x, model.device, multiple) for x in (a, b))
        self._features: tuple[torch.Tensor, torch.Tensor] | None = None  # kept for every t

    def at(self, t: float) -> np.ndarray:
        if not 0.0 <= t <= 1.0:
            raise ValueError(f"t must be between 0 and 1, got {t}")
        if t == 0.0:
            return self.a
        if t == 1.0:
            return self.b
        h, w = self.a.shape[:2]
        net = self.model.net
        with torch.inference_mode():
            if self._features is None:
                self._features = (net.encode(self._pa), net.encode(self._pb))
            frame = net(self._pa, self._pb, t, self._features)[0, :, :h, :w]
            pixels = (frame.clamp(0, 1) * 255).round().to(torch.uint8)
        return pixels.permute(1, 2, 0).cpu().numpy()


def _padded(image: np.ndarray, device: torch.device, multiple: int) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H', W') float32 in [0, 1], edges repeated up to multiples
    of ``multiple``."""
    h, w = image.shape[:2]
    # A copy: frames replayed from a checkpoint are read-only arrays, which torch only wraps.
    x = torch.from_numpy(np.array(image, dtype=np.uint8)).to(device).permute(2, 0, 1)[None]
    x = x.to(torch.float32).contiguous() / 255.0
    pad_h, pad_w = -h % multiple, -w % multiple
    return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x


_lock = threading.Lock()
_cache: dict[tuple[str, int, str], LearnedInterpolator] = {}


def load_interpolator(path: str | Path, device: torch.device | str = "cpu") -> LearnedInterpolator:
    """The interpolator of the weights at ``path`` on ``device`` (float32, eval mode). The
    last one loaded is kept, keyed by file, modification time and device, so a resumed or
    repeated render does not read it again. ``ModelLoadError`` as ``read_state_dict``."""
    found = _weights_file(path)
    device = torch.device(device)
    key = (str(found.resolve()), found.stat().st_mtime_ns, str(device))
    with _lock:
        if key in _cache:
            return _cache[key]
    state, layout = read_state_dict(found)
    with torch.device("meta"):  # no random initialisation: every tensor comes from the file
        net = IFNet(layout)
    net.load_state_dict(state, strict=False, assign=True)  # training-only keys left out
    model = LearnedInterpolator(net.to(device=device, dtype=torch.float32).eval(), device)
    with _lock:
        _cache.clear()
        _cache[key] = model
    return model
