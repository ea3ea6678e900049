"""The learned frame interpolator (issue 29, item 9: RIFE-style) on weights made in the test:
loading through the user's path (.pkl/.pth with ``module.``, .safetensors, a folder),
refusals naming the key, output shape and determinism, a known geometry, and the retiming
writer with it. The studio ships no RIFE weights; nothing here is a trained network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from studio.errors import ModelLoadError
from studio.media.retime import RetimingWriter, in_between
from studio.media.rife import IFNet, IFNetLayout, check_interpolator, load_interpolator
from tests.support.interpolator import (
    V4_22,
    random_state_dict,
    save_random_interpolator,
    shifting_state_dict,
    zero_state_dict,
)


def frames(h: int = 24, w: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two smooth images of an odd size (not a multiple of 64): the padding is cropped."""
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    a = np.stack([(x * 3 + y) % 256, (y * 5) % 256, np.full_like(x, 90)], -1).astype(np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-30, 30, a.shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    return save_random_interpolator(tmp_path_factory.mktemp("rife") / "flownet.pkl", seed=3)


def test_random_weights_load_through_the_user_path_and_interpolate(weights: Path):
    model = load_interpolator(weights)
    a, b = frames()
    pair = model.between(a, b)
    middle = pair.at(0.5)
    assert middle.shape == a.shape and middle.dtype == np.uint8
    assert not np.array_equal(pair.at(0.25), middle)  # the moment reaches the network
    # The ends are the frames themselves.
    assert np.array_equal(pair.at(0.0), a) and np.array_equal(pair.at(1.0), b)
    with pytest.raises(ValueError, match="t must be between 0 and 1, got 1.5"):
        pair.at(1.5)
    # The same weights as safetensors without the prefix, loaded afresh: the same frame.
    other = save_random_interpolator(weights.parent / "w.safetensors", seed=3, prefix="")
    again = load_interpolator(other)
    assert again is not model and np.array_equal(again.between(a, b).at(0.5), middle)
    # A folder means its flownet.pkl (kept loaded: the same file is not read again).
    assert load_interpolator(weights.parent) is load_interpolator(weights)


def test_the_sizes_of_another_v4_2x_version_are_read_from_its_weights(tmp_path: Path):
    # Block input channels as the published versions declare them (v4.22: 7+16, 8+4+16+8;
    # v4.26: 7+8, 8+4+8+8), and each layout read back from its own state dict.
    v4_26 = IFNetLayout(widths=(192, 128, 96, 64, 32), hidden=16, features=4)
    for layout, inputs in ((V4_22, (23, 36)), (v4_26, (15, 28)), (IFNetLayout(), (39, 52))):
        assert (layout.block_inputs(0), layout.block_inputs(1)) == inputs
        with torch.device("meta"):
            assert IFNetLayout.of(IFNet(layout).state_dict()) == layout
    model = load_interpolator(save_random_interpolator(tmp_path / "v4_22.pth", layout=V4_22))
    assert model.net.layout == V4_22 and V4_22.scales == (8, 4, 2, 1) and V4_22.multiple == 32
    a, b = frames()
    middle = model.between(a, b).at(0.5)
    assert middle.shape == a.shape and middle.dtype == np.uint8


def test_a_known_flow_moves_the_first_frame(tmp_path: Path):
    path = tmp_path / "shift.pth"
    torch.save(shifting_state_dict(3.0), path)
    a, b = frames()  # padded to 64 x 64: the padding repeats the edge
    out = load_interpolator(path).between(a, b).at(0.5)
    # Each pixel samples the first frame 3 pixels to its right; the right edge repeats.
    assert np.abs(out[:, :-3].astype(int) - a[:, 3:].astype(int)).max() <= 1
    assert np.abs(out[:, -1].astype(int) - a[:, -1].astype(int)).max() <= 1
    # All-zero weights: no flow, mask logit 0, so an even mix whatever the moment.
    torch.save(zero_state_dict(), path)
    even = load_interpolator(path).between(a, b).at(0.2)
    mix = (a.astype(int) + b.astype(int)) / 2
    assert np.abs(even - mix).max() <= 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("rename", "key block2.convblock.3.beta is missing"),
        ("reshape", "key block1.convblock.0.conv.weight has shape [128, 128, 1, 1], expected"),
        ("no encoder", "key encode.cnn0.weight is missing"),  # as RIFE 4.0-4.6 files
        ("extra", "unexpected key contextnet.conv.weight"),
    ],
)
def test_weights_of_another_layout_are_refused_naming_the_key(tmp_path, change, message):
    state = random_state_dict()
    if change == "rename":
        state["block2.convblock.3.gamma"] = state.pop("block2.convblock.3.beta")
    elif change == "reshape":
        state["block1.convblock.0.conv.weight"] = torch.zeros(128, 128, 1, 1)
    elif change == "no encoder":
        state = {k: v for k, v in state.items() if not k.startswith("encode.")}
    else:
        state["contextnet.conv.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pkl"
    torch.save(state, path)
    with pytest.raises(ModelLoadError, match="not of the RIFE v4.2x flownet layout") as err:
        check_interpolator(path)
    assert message in str(err.value)
    with pytest.raises(ModelLoadError, match="not found"):
        check_interpolator(tmp_path / "missing.pkl")
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ModelLoadError, match="cannot be read"):
        check_interpolator(tmp_path / "junk.pkl")


class Frames:
    """A ``FrameWriter`` that keeps what it is given."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []

    def write(self, frame: np.ndarray) -> None:
        self.frames.append(frame)

    def close(self) -> list[np.ndarray]:
        return self.frames

    def abort(self) -> None:
        pass


def test_the_retiming_writer_makes_in_betweens_with_the_learned_method(weights: Path):
    model = load_interpolator(weights)
    a, b = frames()
    inner = Frames()
    writer = RetimingWriter(inner, source_fps=2, fps=6, method="learned", learned=model)
    writer.write(a)
    writer.write(b)
    out = writer.close()
    # 2 frames at 2 fps last 1 s: 6 frames; 0 and 3 are the rendered ones, 4 and 5 hold b.
    assert len(out) == 6
    assert np.array_equal(out[0], a) and np.array_equal(out[3], b)
    assert np.array_equal(out[2], in_between(a, b, "learned", model).at(2 / 3))
    assert not any(np.array_equal(out[1], f) for f in (a, b, out[2]))
    with pytest.raises(ValueError, match="needs a loaded interpolator"):
        RetimingWriter(Frames(), source_fps=2, fps=6, method="learned")
