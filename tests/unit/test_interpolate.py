"""slerp and lerp: exact ends, norms, batches, fallbacks and dtypes."""

from __future__ import annotations

import math

import pytest
import torch

from studio.pipeline.interpolate import lerp, slerp


def unit(*values: float) -> torch.Tensor:
    v = torch.tensor(values, dtype=torch.float64)
    return v / v.norm()


def random_pair(shape, dtype=torch.float32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)
    b = torch.randn(shape, generator=generator, dtype=torch.float64).to(dtype)
    return a, b


@pytest.mark.parametrize("function", [slerp, lerp])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_endpoints_exact_and_dtype_preserved(function, dtype):
    a, b = random_pair((2, 4, 8, 8), dtype)
    assert torch.equal(function(a, b, 0.0), a)
    assert torch.equal(function(a, b, 1.0), b)
    batched = function(a, b, torch.tensor([0.0, 1.0]))
    assert torch.equal(batched[0], a[0]) and torch.equal(batched[1], b[1])
    middle = function(a, b, 0.5)
    assert middle.dtype == dtype and middle.shape == a.shape


def test_slerp_keeps_unit_vectors_unit():
    a, b = unit(1, 2, 3, 4), unit(-2, 1, 0.5, 3)
    for w in (0.1, 0.5, 0.9):
        assert slerp(a, b, w).norm().item() == pytest.approx(1, abs=1e-12)
    # lerp cuts the corner; slerp is what keeps Gaussian latents at their norm.
    assert lerp(a, b, 0.5).norm().item() < 0.99


def test_slerp_follows_the_great_circle():
    a, b = unit(1, 0), unit(0, 1)
    out = slerp(a, b, 1 / 3)
    assert out.tolist() == pytest.approx([math.cos(math.pi / 6), math.sin(math.pi / 6)])


def test_slerp_treats_whole_tensor_as_one_vector_for_float_weight():
    a, b = random_pair((3, 5), torch.float64)
    whole = slerp(a, b, 0.3)
    flat = slerp(a.flatten(), b.flatten(), 0.3)
    assert torch.allclose(whole.flatten(), flat)


def test_slerp_batch_weights_match_item_by_item():
    a, b = random_pair((3, 4, 2, 2), torch.float64)
    w = torch.tensor([0.2, 0.5, 0.9])
    batched = slerp(a, b, w)
    for i in range(3):
        assert torch.allclose(batched[i], slerp(a[i], b[i], float(w[i])), atol=1e-12)


def test_lerp_batch_weights():
    a, b = torch.zeros(2, 3), torch.ones(2, 3)
    out = lerp(a, b, torch.tensor([0.25, 0.75]))
    assert out.tolist() == [[0.25] * 3, [0.75] * 3]


def test_slerp_parallel_and_opposite_fall_back_to_lerp():
    a = unit(1, 2, 3)
    assert torch.allclose(slerp(a, 2 * a, 0.5), lerp(a, 2 * a, 0.5))
    opposite = slerp(a, -a, 0.5)
    assert torch.all(torch.isfinite(opposite))
    assert torch.allclose(opposite, lerp(a, -a, 0.5))


def test_slerp_zero_vectors_fall_back_to_lerp():
    a, b = torch.zeros(2, 3), torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    out = slerp(a, b, torch.tensor([0.5, 0.25]))
    assert out.tolist() == [[0.5, 0, 0], [0, 0.25, 0]]
    assert torch.equal(slerp(a, a, 0.5), a)


def test_mixed_batch_uses_fallback_only_where_needed():
    a = torch.stack([unit(1, 0), unit(1, 0)])
    b = torch.stack([unit(0, 1), unit(1, 1e-6)])
    out = slerp(a, b, torch.tensor([0.5, 0.5], dtype=torch.float64))
    assert out[0].norm().item() == pytest.approx(1)
    assert torch.allclose(out[1], lerp(a[1], b[1], 0.5))


def test_shape_and_type_errors():
    a = torch.zeros(2, 3)
    with pytest.raises(ValueError):
        slerp(a, torch.zeros(3, 2), 0.5)
    with pytest.raises(ValueError):
        slerp(a, a, torch.tensor([0.5, 0.5, 0.5]))
    with pytest.raises(TypeError):
        lerp(torch.zeros(3, dtype=torch.int64), torch.zeros(3, dtype=torch.int64), 0.5)
    with pytest.raises(ValueError):
        slerp(a, a, 0.5, dot_threshold=2.0)


def test_empty_tensors():
    a = torch.zeros(0, 4)
    assert slerp(a, a, torch.zeros(0)).shape == (0, 4)
    assert lerp(a, a, 0.5).shape == (0, 4)
