"""SSIM, the streaming smoothness meter every writer feeds, and the history's smoothness
sort and filter (issue 29, item 6)."""

from __future__ import annotations

import numpy as np
import pytest

from studio.app.history import matches, smoothness_of, sort_runs
from studio.media.perceptual import ssim, ssim_distance
from studio.media.smoothness import SmoothnessMeter, shrink


def _shape(x: int, size: int = 96) -> np.ndarray:
    """A white square 16 px wide at column ``x`` on a dark-grey frame (SSIM's window sees
    the whole square for 5 <= x <= size - 21)."""
    frame = np.full((size, size, 3), 40, dtype=np.uint8)
    frame[24:40, x : x + 16] = 230
    return frame


def test_identical_frames_are_at_distance_zero():
    frame = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    assert ssim(frame, frame) == pytest.approx(1.0, abs=1e-12)
    assert ssim_distance(frame, frame.copy()) == pytest.approx(0.0, abs=1e-12)


def test_distance_grows_with_the_change():
    base = np.random.default_rng(1).integers(0, 256, (32, 32, 3)).astype(np.float64)
    noise = np.random.default_rng(2).normal(0, 1, base.shape)
    a = base.astype(np.uint8)
    steps = [
        ssim_distance(a, np.clip(base + s * noise, 0, 255).astype(np.uint8)) for s in (5, 20, 60)
    ]
    assert 0 < steps[0] < steps[1] < steps[2]
    # A square moved further is further away.
    assert ssim_distance(_shape(10), _shape(12)) < ssim_distance(_shape(10), _shape(30))


def _ssim_by_windows(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM as its definition reads: every 11 x 11 window that fits, each channel, one at a
    time, under the 2D Gaussian (sigma 1.5); the mean of the map."""
    x = np.arange(11) - 5.0
    g = np.exp(-(x**2) / 4.5)
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for c in range(3):
        for i in range(a.shape[0] - 10):
            for j in range(a.shape[1] - 10):
                p = a[i : i + 11, j : j + 11, c].astype(np.float64)
                q = b[i : i + 11, j : j + 11, c].astype(np.float64)
                mp, mq = (w * p).sum(), (w * q).sum()
                vp, vq = (w * p * p).sum() - mp**2, (w * q * q).sum() - mq**2
                cov = (w * p * q).sum() - mp * mq
                values.append(
                    (2 * mp * mq + c1) * (2 * cov + c2) / ((mp**2 + mq**2 + c1) * (vp + vq + c2))
                )
    return float(np.mean(values))


def test_ssim_is_the_windowed_definition():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (16, 14, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, a.shape), 0, 255).astype(np.uint8)
    assert ssim(a, b) == pytest.approx(_ssim_by_windows(a, b), abs=1e-12)
    assert ssim(a, b) < 0.99


def test_the_meter_scores_each_pair_as_ssim_does():
    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 256, (20, 24, 3), dtype=np.uint8) for _ in range(4)]
    meter = SmoothnessMeter()
    for frame in frames:
        meter.add(frame)
    want = [round(ssim_distance(a, b), 5) for a, b in zip(frames, frames[1:], strict=False)]
    assert meter.facts()["distances"] == want


def test_ssim_refuses_other_shapes_and_dtypes():
    with pytest.raises(ValueError, match=r"\(8, 8, 3\) and \(8, 9, 3\)"):
        ssim(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(ValueError, match="float64"):
        ssim(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)))


def test_shrink_averages_whole_blocks():
    frame = np.zeros((300, 260, 3), dtype=np.uint8)
    frame[:3, :3] = 90  # one 3 x 3 block: factor ceil(300 / 128) = 3
    small = shrink(frame)
    assert small.shape == (100, 86, 3) and small.dtype == np.uint8
    assert small[0, 0].tolist() == [90, 90, 90] and small[0, 1].tolist() == [0, 0, 0]
    fits = np.ones((128, 64, 3), dtype=np.uint8)
    assert shrink(fits) is fits


def test_the_meter_finds_the_jump_and_scores_even_motion_as_even():
    even, jumpy = SmoothnessMeter(), SmoothnessMeter()
    for x in range(8, 48, 4):  # 10 frames, 4 px a frame
        even.add(_shape(x))
    for x in (8, 12, 16, 20, 44, 48, 52):  # a 24 px jump into frame 4
        jumpy.add(_shape(x))
    e, j = even.facts(), jumpy.facts()
    assert e["frames"] == 10 and len(e["distances"]) == 9
    assert j["max_jump_frame"] == 4 and j["max_jump"] == max(j["distances"])
    assert j["max_jump"] > 1.5 * j["mean"] > 0
    assert e["cv"] < 0.05 and j["cv"] > 10 * e["cv"]
    assert e["mean"] == pytest.approx(np.mean(e["distances"]), abs=1e-5)


def test_a_still_or_single_frame_scores_zero():
    one, still = SmoothnessMeter(), SmoothnessMeter()
    one.add(_shape(0))
    for _ in range(3):
        still.add(_shape(5))
    assert one.facts() == {
        "frames": 1,
        "mean": 0.0,
        "cv": 0.0,
        "max_jump": 0.0,
        "max_jump_frame": None,
        "distances": [],
    }
    assert still.facts()["distances"] == [0.0, 0.0] and still.facts()["cv"] == 0.0


def _run(name: str, cv: float | None, jump: float = 0.1) -> dict:
    extra = {} if cv is None else {"smoothness": {"mean": 0.1, "cv": cv, "max_jump": jump}}
    return {"id": name, "status": "done", "session": "s", "extra": extra}


def test_history_sorts_and_filters_by_smoothness():
    runs = [_run("new", 0.5, 0.4), _run("none", None), _run("mid", 0.2, 0.1), _run("old", 0.3)]
    assert [r["id"] for r in sort_runs(runs, "newest")] == ["new", "none", "mid", "old"]
    assert [r["id"] for r in sort_runs(runs, "evenness")] == ["mid", "old", "new", "none"]
    # Ties keep newest first; unscored last.
    assert [r["id"] for r in sort_runs(runs, "jump")] == ["mid", "old", "new", "none"]
    assert [r["id"] for r in runs if matches(r, max_jump=0.1)] == ["mid", "old"]
    assert [r["id"] for r in runs if matches(r)] == ["new", "none", "mid", "old"]
    with pytest.raises(ValueError, match="'smoothest'"):
        sort_runs(runs, "smoothest")


def test_a_pulled_score_that_is_not_numbers_counts_as_none():
    bad = {"id": "x", "extra": {"smoothness": {"mean": "0.1", "cv": 0.1, "max_jump": 0.1}}}
    assert smoothness_of(bad) is None and smoothness_of({"id": "y"}) is None
    assert smoothness_of({"id": "z", "extra": ["not", "a", "dict"]}) is None
    assert not matches({**bad, "status": "done", "session": "s"}, max_jump=1.0)
