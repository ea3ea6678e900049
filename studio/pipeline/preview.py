"""Live previews: a cheap picture of the latents while a render runs, never an output frame.

While frames are denoised, the loop's newest prediction of the clean latents is shown at most
once per ``preview_seconds`` (``LivePreview``), through a ``PreviewDecoder`` far cheaper than
the VAE, so a preview costs almost nothing:

- ``tiny``: a small convolutional decoder (``TinyDecoder``: latent channels -> RGB at 8x,
  AutoencoderTiny's shape at a fraction of its width) trained against a built-in model's VAE
  on its latents (``python -m training.shapes.preview``); it ships for ``builtin:shapes``
  (``studio/weights/shapes/preview``).
- ``linear``: each latent pixel's colour as a matrix (C x 3) plus a bias, shown 8x larger:
  fitted by least squares against the VAE for the built-in models, and for Stable Diffusion
  1.x/2.x's and SDXL's VAEs the published factors (``LINEAR_FACTORS`` names where from).
- a folder holding an ``AutoencoderTiny`` (taesd, taesdxl) that the user points at: its
  decoder, loaded once per manager.
- ``vae``: the model's own VAE, the full cost, where nothing cheaper is known.

``auto`` takes the first of tiny, linear and vae that the model has; ``off`` shows only
finished frames. A decoder reads latents and changes nothing: the frames of a render are the
same whichever decoder shows its previews, and the run records which one did.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from studio.errors import ModelLoadError, SpecError

if TYPE_CHECKING:
    from studio.events import RenderEvents
    from studio.pipeline.common import Clock
    from studio.pipeline.models import LoadedModel, ModelManager

__all__ = [
    "LINEAR_FACTORS",
    "PREVIEW_MODES",
    "TINY_WEIGHTS",
    "LivePreview",
    "PreviewDecoder",
    "TinyDecoder",
    "check_preview",
    "open_preview",
]

PREVIEW_MODES = ("auto", "tiny", "linear", "vae", "off")
WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
# Built-in model -> its trained tiny decoder (``training.shapes.preview`` writes it).
TINY_WEIGHTS = {"builtin:shapes": WEIGHTS / "shapes" / "preview" / "tiny_decoder.safetensors"}

# Latent space -> (C x 3 matrix, 3 biases) from model-space latents (what the denoise loop
# holds: the VAE's latents times its scaling factor) to RGB in [-1, 1].
# builtin:*: least squares against their VAEs (``python -m training.shapes.preview``).
# sd (SD 1.x and 2.x share the VAE, scaling factor 0.18215) and sdxl (0.13025): published
# factors, from ComfyUI's comfy/latent_formats.py (SD15, SDXL ``latent_rgb_factors``), taken
# as facts; no weights of those VAEs are available here to fit them again.
LINEAR_FACTORS: dict[str, tuple[list[list[float]], list[float]]] = {
    "builtin:shapes": (
        [
            [0.1656, -0.5128, 0.4355],
            [0.085, 0.7516, 0.1236],
            [0.1862, 0.1776, -0.4204],
            [-0.2998, 0.1153, 0.0917],
        ],
        [0.1086, -0.0505, -0.1427],
    ),
    "builtin:tiny": (  # a random VAE: close to its mean colour
        [
            [0.0077, -0.0013, -0.0001],
            [-0.0035, -0.0006, 0.0035],
            [0.0037, -0.0056, -0.0006],
            [0.0016, -0.001, -0.0012],
        ],
        [0.0474, -0.0872, -0.0108],
    ),
    "sd": (
        [
            [0.3512, 0.2297, 0.3227],
            [0.3250, 0.4974, 0.2350],
            [-0.2829, 0.1762, 0.2721],
            [-0.2120, -0.2616, -0.7177],
        ],
        [0.0, 0.0, 0.0],
    ),
    "sdxl": (
        [
            [0.3651, 0.4232, 0.4341],
            [-0.2533, -0.0042, 0.1068],
            [0.1076, 0.1111, -0.0362],
            [-0.3165, -0.2492, -0.2188],
        ],
        [0.1084, -0.0175, -0.0011],
    ),
}
_SCALING_SPACES = {0.18215: "sd", 0.13025: "sdxl"}  # a VAE's scaling factor -> its space


class TinyDecoder(torch.nn.Module):
    """Latents (B, C, h, w) in model space -> RGB (B, 3, 8h, 8w) in [0, 1] (unclamped).

    AutoencoderTiny's decoder in miniature: a soft clamp of the latents, two convolutions at
    the latent size, then three times nearest 2x upsampling and a convolution, narrowing
    ``channels`` as the picture grows.
    """

    def __init__(
        self, latent_channels: int = 4, channels: tuple[int, ...] = (64, 32, 16, 16)
    ) -> None:
        super().__init__()
        nn = torch.nn
        layers: list[nn.Module] = [nn.Conv2d(latent_channels, channels[0], 3, padding=1)]
        layers += [nn.ReLU(), nn.Conv2d(channels[0], channels[0], 3, padding=1), nn.ReLU()]
        for c_in, c_out in zip(channels, channels[1:], strict=False):
            layers += [nn.Upsample(scale_factor=2), nn.Conv2d(c_in, c_out, 3, padding=1)]
            layers.append(nn.ReLU())
        layers.append(nn.Conv2d(channels[-1], 3, 3, padding=1))
        self.layers = nn.Sequential(*layers)
        self.latent_channels, self.channels = latent_channels, tuple(channels)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.tanh(latents / 3) * 3)

    def config(self) -> dict[str, str]:
        """What ``load`` needs to build it again (safetensors metadata: strings)."""
        return {"latent_channels": str(self.latent_channels), "channels": json.dumps(self.channels)}

    @classmethod
    def load(cls, path: Path) -> TinyDecoder:
        """The decoder saved at ``path`` (safetensors, ``config()`` as its metadata)."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        decoder = cls(int(meta["latent_channels"]), tuple(json.loads(meta["channels"])))
        decoder.load_state_dict(load_file(str(path)))
        return decoder.eval().requires_grad_(False)


class PreviewDecoder:
    """Latents (B, C, h, w) in model space -> the first one's picture, (H, W, 3) uint8.

    ``name`` is what the run records: ``tiny``, ``linear``, ``taesd`` or ``vae``.
    """

    def __init__(self, name: str, to_rgb: Any, unit: bool) -> None:
        self.name = name
        self._to_rgb = to_rgb  # latents (1, C, h, w) float -> (1, 3, H, W)
        self._unit = unit  # True: it gives [0, 1]; False: [-1, 1]

    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            rgb = self._to_rgb(latents[:1])
        rgb = rgb.float() if self._unit else rgb.float() / 2 + 0.5
        pixels = (rgb.clamp(0, 1) * 255).round().to(torch.uint8)
        return pixels[0].permute(1, 2, 0).cpu().numpy()


def linear_decoder(matrix: torch.Tensor, bias: torch.Tensor, scale: int = 8) -> PreviewDecoder:
    """``linear``: RGB = latents @ ``matrix`` (C, 3) + ``bias`` (3,), ``scale`` times larger."""

    def to_rgb(latents: torch.Tensor) -> torch.Tensor:
        m = matrix.to(device=latents.device, dtype=torch.float32)
        b = bias.to(device=latents.device, dtype=torch.float32)
        rgb = torch.einsum("bchw,cd->bdhw", latents.float(), m) + b[:, None, None]
        return torch.nn.functional.interpolate(rgb, scale_factor=scale, mode="nearest")

    return PreviewDecoder("linear", to_rgb, unit=False)


def check_preview(preview: str, model: str) -> None:
    """Refuse, before a run is recorded, a preview the model cannot have (``SpecError``): a
    ``tiny`` decoder where none is trained, or a folder without an AutoencoderTiny in it."""
    if preview in PREVIEW_MODES:
        if preview == "tiny" and model not in TINY_WEIGHTS:
            raise SpecError(
                f"preview 'tiny': no tiny preview decoder is trained for {model} (only for "
                f"{', '.join(TINY_WEIGHTS)}); use auto, linear, vae, off or a taesd folder"
            )
        return
    folder = Path(preview).expanduser()
    config = folder / "config.json"
    if not config.is_file():
        raise SpecError(
            f"preview {preview!r} is neither one of {', '.join(PREVIEW_MODES)} nor a folder "
            "with an AutoencoderTiny (config.json) in it"
        )
    try:
        kind = json.loads(config.read_text()).get("_class_name")
    except (OSError, ValueError, AttributeError):
        kind = None
    if kind != "AutoencoderTiny":
        raise SpecError(
            f"preview folder {preview!r} holds {kind or 'a model of unknown class'}, "
            "not an AutoencoderTiny (taesd)"
        )


def open_preview(preview: str, loaded: LoadedModel, manager: ModelManager) -> PreviewDecoder | None:
    """The decoder ``preview`` (a ``PREVIEW_MODES`` name or a taesd folder) gives for
    ``loaded``; None for ``off``. Raises ``SpecError`` where the model has no such decoder
    (``check_preview``, and ``linear`` for a latent space with no known factors) and
    ``ModelLoadError`` for a taesd folder that does not load."""
    if preview == "off":
        return None
    if preview not in PREVIEW_MODES:
        return _taesd(preview, loaded, manager)
    check_preview(preview, loaded.ref)
    if preview in ("auto", "tiny") and loaded.ref in TINY_WEIGHTS:
        key = ("preview", loaded.ref, str(loaded.device))
        tiny = manager.component(
            key, lambda: TinyDecoder.load(TINY_WEIGHTS[loaded.ref]).to(loaded.device)
        )
        return PreviewDecoder("tiny", lambda x: tiny(x.float()), unit=True)
    factors = _linear_factors(loaded)
    if preview == "linear" and factors is None:
        raise SpecError(
            f"preview 'linear': no latent colour factors are known for {loaded.ref}'s VAE; "
            "use auto, vae, off or a taesd folder"
        )
    if preview in ("auto", "linear") and factors is not None:
        return linear_decoder(*factors)
    return _vae_decoder(loaded)


def _linear_factors(loaded: LoadedModel) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The linear factors of ``loaded``'s latent space: a built-in model's own (under its
    name in ``LINEAR_FACTORS``), else those its VAE's scaling factor and channels name."""
    vae = loaded.pipe.vae.config
    space = loaded.ref if loaded.ref in LINEAR_FACTORS else None
    if space is None and vae.latent_channels == 4:
        space = _SCALING_SPACES.get(round(float(vae.scaling_factor), 5))
    if space is None:
        return None
    matrix, bias = LINEAR_FACTORS[space]
    return torch.tensor(matrix), torch.tensor(bias)


def _vae_decoder(loaded: LoadedModel) -> PreviewDecoder:
    """``vae``: the model's own VAE on the first latent (what an output frame costs)."""
    from studio.pipeline.latents import decode

    def to_rgb(latents: torch.Tensor) -> torch.Tensor:
        image = decode(loaded.pipe, latents)[0]
        return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255

    return PreviewDecoder("vae", to_rgb, unit=True)


def _taesd(folder: str, loaded: LoadedModel, manager: ModelManager) -> PreviewDecoder:
    """The decoder of the AutoencoderTiny in ``folder``, loaded once per manager and device."""
    check_preview(folder, loaded.ref)

    def load() -> Any:
        from diffusers import AutoencoderTiny

        try:
            model = AutoencoderTiny.from_pretrained(Path(folder).expanduser())
        except Exception as exc:  # diffusers raises many types for a broken folder
            raise ModelLoadError(f"could not load the preview decoder {folder}: {exc}") from exc
        return model.to(loaded.device).eval().requires_grad_(False)

    tiny = manager.component(("preview", str(Path(folder).expanduser()), str(loaded.device)), load)
    channels = tiny.config.latent_channels
    if channels != loaded.pipe.vae.config.latent_channels:
        raise SpecError(
            f"preview folder {folder!r} decodes {channels}-channel latents; "
            f"{loaded.ref} makes {loaded.pipe.vae.config.latent_channels}"
        )

    def to_rgb(latents: torch.Tensor) -> torch.Tensor:
        return tiny.decode(latents.to(tiny.dtype) / tiny.config.scaling_factor).sample

    return PreviewDecoder("taesd", to_rgb, unit=False)


class LivePreview:
    """A render's progress, with a preview of the latents being denoised in between.

    ``progress(done, image)`` reports finished frames as before (``image``: the newest
    finished frame, already made); ``step(latents)``, called by the denoise loop after every
    step, shows the first latent through ``decoder`` when ``every`` seconds have passed since
    the last picture, with the count of finished frames unchanged. Events that say
    ``wants_previews = False`` (``NullEvents``: a render nobody watches, as from the Python API
    without events) get no pictures, and none are drawn. ``facts()``: what the run records
    (decoder, previews shown, seconds spent on them).
    """

    def __init__(
        self,
        decoder: PreviewDecoder | None,
        events: RenderEvents,
        total: int,
        every: float,
        clock: Clock,
    ) -> None:
        self.decoder, self.events, self.total = decoder, events, total
        self.every, self.clock = every, clock
        self.done = 0
        self.shown = 0
        self._drawing = decoder is not None and getattr(events, "wants_previews", True)
        self.seconds = 0.0
        self._last = time.monotonic()

    def progress(self, done: int, image: np.ndarray | None = None) -> None:
        """``done`` of ``total`` frames finished; ``image`` the newest of them."""
        self.done = done
        self._last = time.monotonic()
        self.events.progress(done, self.total, image)

    def step(self, latents: torch.Tensor) -> None:
        """A preview of ``latents`` (B, C, h, w), when one is due."""
        if not self._drawing or time.monotonic() - self._last < self.every:
            return
        began = time.perf_counter()
        with self.clock.stage("preview"):
            image = self.decoder(latents)
        self.seconds += time.perf_counter() - began
        self.shown += 1
        self.events.progress(self.done, self.total, image)
        self._last = time.monotonic()

    def facts(self) -> dict[str, Any]:
        """JSON-safe: the decoder's name (``off`` without one), its interval and cost."""
        return {
            "decoder": self.decoder.name if self.decoder is not None else "off",
            "every_seconds": self.every,
            "previews": self.shown,
            "seconds": round(self.seconds, 4),
        }
