"""What a training run of ``builtin:shapes`` is told: :class:`TrainConfig`, and the fixed sizes.

The fields are the options that made the shipped weights (v7, docs/models.md "How the
weights were made"), each with the value it had there unless v7's command line set it:

    python -m training.shapes.train --unet-from V6 --seed 1 --unet-steps 6000 \\
        --minutes 92 --uncond 0.2 --mix-share 0.3 --out v7

where V6 was itself trained with ``--vae-from`` on the VAE of a plain default run. The
flags of ``training.shapes.train`` are made from these fields (``--mix-share`` for
``mix_share``), with the help text in each field's metadata, and ``training.json`` records
all of them. Architecture choices the probes settled (the UNet's coordinate code, the
colour code, a text encoder with no transformer layers) are no longer options: git keeps
the probes that tried the others.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["IMAGE_SIZE", "MAX_TOKENS", "SHIPPED_WEIGHTS", "TrainConfig", "is_run_folder"]

IMAGE_SIZE = 128
MAX_TOKENS = 24  # "a large purple triangle on a white background at the top left" is 14
SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "studio" / "weights" / "shapes"


def _option(default: object, text: str) -> object:
    return field(default=default, metadata={"help": text})


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a run written by ``training.shapes.train`` (the UNet, the text
    encoder and the ``training.json`` record)."""
    written = ("unet/config.json", "text_encoder/config.json", "training.json")
    return all((folder / name).is_file() for name in written)


@dataclass(frozen=True)
class TrainConfig:
    """The options of one training run; :meth:`__post_init__` refuses values that would do
    nothing or the wrong thing, naming the field and the value."""

    out: Path = _option(SHIPPED_WEIGHTS, "folder to write the diffusers pipeline to")
    minutes: float = _option(45.0, "whole time budget, in minutes")
    vae_share: float = _option(0.3, "share of the time budget for the VAE stage")
    seed: int = _option(0, "seed of the scenes, the noise and the weights")
    cache: int = _option(12000, "scenes in the latent cache")
    vae_batch: int = _option(16, "scenes per VAE step")
    unet_batch: int = _option(64, "latents per UNet step")
    unet_steps: int = _option(
        0,
        "stop the UNet stage after this many steps, if its time is not up first (0: time only)",
    )
    high_noise: float = _option(0.15, "share of samples at t >= 700")
    mix_share: float = _option(0.1, "share of in-between scenes (draw_between)")
    keep_p: float = _option(0.75, "chance a caption names each optional attribute")
    snr_gamma: float = _option(5.0, "min-SNR weighting of low-noise steps (0: off)")
    uncond: float = _option(
        0.1,
        "share of empty captions, which train the unconditional prediction that "
        "classifier-free guidance extrapolates from",
    )
    vae_from: Path | None = _option(
        None, "reuse the VAE of an earlier run's folder and skip stage 1 (its time counts there)"
    )
    unet_from: Path | None = _option(
        None,
        "go on training the UNet and text encoder of an earlier run's folder (a warm start, "
        "at half the learning rate, in that run's latent space; its VAE too, unless "
        "--vae-from names another copy of it)",
    )
    threads: int = _option(0, "torch threads (0: all cores)")
    self_check: bool = _option(True, "draw held-out prompts at the end and read them back")

    def __post_init__(self) -> None:
        shares = {"vae_share": self.vae_share, "high_noise": self.high_noise}
        shares |= {"mix_share": self.mix_share, "keep_p": self.keep_p}
        for name, value in shares.items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is a share from 0 to 1, got {value}")
        if not 0.0 <= self.uncond < 1.0:
            raise ValueError(f"uncond is a share from 0 to below 1, got {self.uncond}")
        if self.minutes <= 0:
            raise ValueError(f"minutes must be above 0, got {self.minutes}")
        counts = {"cache": self.cache, "vae_batch": self.vae_batch, "unet_batch": self.unet_batch}
        for name, value in counts.items():
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        for name, value in (("unet_steps", self.unet_steps), ("threads", self.threads)):
            if value < 0:
                raise ValueError(f"{name} must be 0 or more, got {value}")
        if self.snr_gamma < 0:
            raise ValueError(f"snr_gamma must be 0 (off) or more, got {self.snr_gamma}")
        for name, folder in (("unet_from", self.unet_from), ("vae_from", self.vae_from)):
            if folder is not None and not is_run_folder(folder):
                raise ValueError(f"{name} {folder} is not a folder training.shapes.train wrote")

    @property
    def warm_start(self) -> bool:
        """Whether the UNet stage goes on from an earlier run (``unet_from``)."""
        return self.unet_from is not None

    @property
    def vae_source(self) -> Path | None:
        """The folder whose VAE the run reuses: ``vae_from``, else ``unet_from``'s (a warm-started
        UNet must stay in its own VAE's latent space), else None (train one)."""
        return self.vae_from or self.unet_from

    def record(self) -> dict[str, object]:
        """The fields as JSON values (paths as strings), for ``training.json``."""
        fields = dataclasses.asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in fields.items()}
