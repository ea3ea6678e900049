"""The decode-memory estimate that refuses frames a device cannot decode (issue 26, item 1)."""

from __future__ import annotations

import pytest

from studio.errors import SpecError
from studio.pipeline import frame_memory
from studio.pipeline.frame_memory import BYTES_PER_PIXEL, check_frame_memory, decode_bytes


def test_the_estimate_grows_with_area_and_batch_and_savers_bound_it():
    one = decode_bytes(512, 512, 1, half=False, tiling=False, slicing=False)
    assert one == 512 * 512 * BYTES_PER_PIXEL
    assert decode_bytes(1024, 1024, 1, half=False, tiling=False, slicing=False) == 4 * one
    assert decode_bytes(512, 512, 4, half=False, tiling=False, slicing=False) == 4 * one
    assert decode_bytes(512, 512, 4, half=True, tiling=False, slicing=True) == one // 2
    assert decode_bytes(4096, 4096, 1, half=False, tiling=True, slicing=False) == one


def test_a_frame_larger_than_the_device_is_refused_with_what_to_change(monkeypatch):
    monkeypatch.setattr(frame_memory, "device_memory", lambda device: ("cpu", 24 * 10**9))
    check_frame_memory(2048, 2048, 1, device="cpu", dtype="auto", tiling=False, slicing=False)
    with pytest.raises(SpecError, match=r"4096x4096 frames need about 43 GB .* 24 GB.*tiling"):
        check_frame_memory(4096, 4096, 1, device="cpu", dtype="auto", tiling=False, slicing=False)
    check_frame_memory(4096, 4096, 1, device="cpu", dtype="auto", tiling=True, slicing=False)


def test_an_unknown_device_memory_refuses_nothing(monkeypatch):
    monkeypatch.setattr(frame_memory, "device_memory", lambda device: ("mps", None))
    check_frame_memory(4096, 4096, 64, device="mps", dtype="auto", tiling=False, slicing=False)


def test_memory_auto_decodes_a_batch_frame_by_frame_so_only_one_frame_must_fit(monkeypatch):
    monkeypatch.setattr(frame_memory, "device_memory", lambda device: ("cpu", 24 * 10**9))
    # 4 frames of 2048x2048 need 43 GB together, 11 GB one at a time.
    with pytest.raises(SpecError, match=r"in batches of 4 need about 43 GB.*a batch size of 1"):
        check_frame_memory(2048, 2048, 4, device="cpu", dtype="auto", tiling=False, slicing=False)
    check_frame_memory(
        2048, 2048, 4, device="cpu", dtype="auto", tiling=False, slicing=False, auto_memory=True
    )
