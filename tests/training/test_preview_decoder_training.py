"""training.shapes.preview: the least-squares fit of a latent colour map, and the error
measure its figures come from (the training itself runs for minutes: not here)."""

from __future__ import annotations

import torch

from training.shapes.preview import fit_linear, measure


def test_the_linear_fit_recovers_a_known_colour_map():
    matrix = torch.tensor([[0.3, -0.2, 0.1], [0.0, 0.5, -0.4], [0.2, 0.1, 0.3], [-0.1, 0.0, 0.2]])
    bias = torch.tensor([0.1, -0.05, 0.0])
    latents = torch.randn((6, 4, 4, 4), generator=torch.Generator().manual_seed(0))
    rgb = torch.einsum("bchw,cd->bdhw", latents, matrix) + bias[:, None, None]
    targets = torch.nn.functional.interpolate(rgb, scale_factor=8) / 2 + 0.5  # in [0, 1]
    found, offset = fit_linear(latents, targets)
    assert torch.allclose(torch.tensor(found), matrix, atol=1e-3)
    assert torch.allclose(torch.tensor(offset), bias, atol=1e-3)


def test_the_error_measure_tells_a_close_picture_from_a_far_one():
    target = torch.rand((2, 3, 32, 32), generator=torch.Generator().manual_seed(1))
    close = measure(target + 0.01, target)
    far = measure(1 - target, target)
    assert close["psnr_db"] > 35 > far["psnr_db"]
    assert close["one_minus_ssim"] < far["one_minus_ssim"]
