"""Input media, 2D motion, colour matching and coherence, without a model."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from db import paths as db_paths
from studio.animation.coherence import Coherence
from studio.animation.motion import evaluate_curves, img2img_steps, init_kinds, warp
from studio.errors import CurveError, MediaError, SpecError
from studio.media import ffmpeg, paths
from studio.media.color import ColorReference, lab_to_rgb, rgb_to_lab
from studio.media.inputs import (
    load_image,
    probe_image,
    probe_video,
    resample_indices,
    round_size,
    stream_video,
)
from studio.spec import AnimationSpec, InputSettings, MotionSettings
from tests.support.media import bad_file, index_of, make_video

# -- video and image input ------------------------------------------------------------------


def test_a_30_fps_video_resampled_to_10_fps_keeps_every_third_frame(tmp_path):
    info = probe_video(make_video(tmp_path / "v.mp4", 30, 30))
    assert (info.frames, info.fps, info.width, info.height) == (30, 30.0, 32, 32)
    assert info.output_frames(10) == 10
    frames = list(stream_video(info, 10, 32, 32))
    assert [index_of(f) for f in frames] == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27]


def test_a_faster_output_repeats_frames_and_resizes(tmp_path):
    info = probe_video(make_video(tmp_path / "v.mp4", 5, 10))
    frames = list(stream_video(info, 20, 24, 16))
    assert len(frames) == 10 and frames[0].shape == (16, 24, 3)
    assert [index_of(f) for f in frames] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_resample_indices_by_timestamp():
    assert resample_indices(10, 10, 10).tolist() == list(range(10))
    assert resample_indices(31, 30, 10).tolist() == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    assert resample_indices(3, 24, 10).tolist() == [0, 2]


@pytest.mark.parametrize(
    ("size", "rounded"),
    [((64, 64), (64, 64)), ((60, 44), (64, 48)), ((100, 75), (104, 72)), ((3, 3), (8, 8))],
)
def test_size_rounds_to_the_nearest_multiple_of_8(size, rounded):
    assert round_size(*size) == rounded


def test_rounding_is_reported(tmp_path):
    info = probe_video(make_video(tmp_path / "v.mp4", 2, 10, width=60, height=44))
    assert info.rounded and info.rounded_size == (64, 48)
    assert info.to_dict()["rounded_width"] == 64


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", "is empty"),
        ("text", "is not a video"),
        ("truncated", "is not a video"),
        ("huge", "4104x8 pixels"),
        ("missing", "does not exist"),
    ],
)
def test_bad_videos_are_refused_naming_file_and_problem(tmp_path, kind, message):
    path = bad_file(tmp_path, kind)
    with pytest.raises(MediaError, match=message) as caught:
        probe_video(path)
    assert path.name in str(caught.value)


def test_a_video_cut_mid_stream_is_caught_by_decoding(tmp_path):
    """With the index at the front (faststart) the header reads fine; decoding finds the cut."""
    whole = tmp_path / "whole.mp4"
    writer = imageio_ffmpeg.write_frames(
        str(whole),
        (32, 32),
        fps=30,
        macro_block_size=1,
        output_params=["-movflags", "+faststart"],
        ffmpeg_log_level="error",
    )
    writer.send(None)
    rng = np.random.default_rng(0)
    for _ in range(60):
        writer.send(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    writer.close()
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(MediaError, match="truncated, corrupt"):
        probe_video(cut)


def test_image_input_is_probed_and_resized(tmp_path):
    path = tmp_path / "in.png"
    Image.new("RGB", (40, 20), (200, 10, 10)).save(path)
    info = probe_image(path)
    image = load_image(info, 16, 8)
    assert image.shape == (8, 16, 3) and tuple(image[4, 8]) == (200, 10, 10)


def test_bad_images_are_refused(tmp_path):
    wide = tmp_path / "wide.png"
    Image.new("RGB", (5000, 4)).save(wide)
    with pytest.raises(MediaError, match="5000x4 pixels"):
        probe_image(wide)
    text = tmp_path / "text.png"
    text.write_text("not a picture")
    with pytest.raises(MediaError, match="not an image"):
        probe_image(text)
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:-2000])
    with pytest.raises(MediaError, match="truncated"):
        probe_image(cut)


# -- ffmpeg, paths ---------------------------------------------------------------------------

FFMPEG_LOG = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from '/in/clip.mp4':
  Duration: 00:01:02.50, start: 0.000000, bitrate: 300 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p, 640x360 [SAR 1:1 DAR 16:9], 250 kb/s, 29.97 fps, 29.97 tbr, 30k tbn (default)
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 128 kb/s
Stream mapping:
  Stream #0:0 -> #0:0 (h264 (native) -> wrapped_avframe (native))
frame=  120 fps=0.0 q=-0.0 size=N/A time=00:00:04.00 bitrate=N/A speed=8x
frame= 1873 fps=0.0 q=-0.0 Lsize=N/A time=00:01:02.50 bitrate=N/A speed=9x
"""


def test_an_ffmpeg_header_gives_size_rate_duration_and_audio():
    header = ffmpeg.parse_header(FFMPEG_LOG)
    assert (header.width, header.height, header.fps) == (640, 360, 29.97)
    assert header.duration == 62.5 and header.has_audio and header.audio_rate == 44100
    assert ffmpeg.frames_counted(FFMPEG_LOG) == 1873
    assert ffmpeg.parse_header("Stream mapping:\n  Stream #0:0: Video: h264, 8x8").video is None


def test_an_ffmpeg_reason_is_its_last_lines_without_the_file_name():
    log = "frame=  3\n/in/a.mp4: Invalid data found\nError opening input file /in/a.mp4.\nbye\n"
    assert ffmpeg.reason(log, "/in/a.mp4") == "Invalid data found | bye"
    assert ffmpeg.reason(log, "/in/a.mp4", lines=1) == "bye"
    assert ffmpeg.reason("") == "(ffmpeg said nothing)"


def test_the_engine_and_the_store_document_one_default_home():
    assert paths.DEFAULT_HOME == db_paths.DEFAULT_HOME == "~/.latent-studio"


def test_a_relative_media_path_is_found_in_the_working_folder_then_in_studio_home(
    tmp_path, monkeypatch
):
    home, work = tmp_path / "home", tmp_path / "work"
    (home / "inputs").mkdir(parents=True)
    work.mkdir()
    (home / "inputs" / "song.wav").write_bytes(b"x")
    monkeypatch.setenv("STUDIO_HOME", str(home))
    monkeypatch.chdir(work)
    assert paths.studio_home() == home
    assert paths.resolve_media_path("inputs/song.wav") == home / "inputs" / "song.wav"
    (work / "inputs").mkdir()
    (work / "inputs" / "song.wav").write_bytes(b"y")
    assert paths.resolve_media_path("inputs/song.wav") == Path("inputs/song.wav")
    assert paths.resolve_media_path("nowhere.wav") == Path("nowhere.wav")
    monkeypatch.setenv("STUDIO_HOME", "")
    assert paths.studio_home() == Path("~/.latent-studio").expanduser()


# -- spec and curves ---------------------------------------------------------------------------


def test_input_and_motion_settings_round_trip():
    spec = AnimationSpec(
        motion=MotionSettings(zoom="0: (1.01)", border="reflect", color_match="first")
    )
    assert AnimationSpec.from_dict(spec.to_dict()) == spec
    assert (
        AnimationSpec.from_dict({"prompts": spec.to_dict()["prompts"]}).motion == MotionSettings()
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"input": InputSettings(image="a.png", video="b.mp4")}, "not both"),
        ({"motion": MotionSettings(coherence_scale=2.0)}, "coherence scale"),
        ({"motion": MotionSettings(color_match="input")}, "needs an image or video"),
        ({"motion": MotionSettings(strength="")}, "strength curve is empty"),
    ],
)
def test_bad_settings_name_the_value(changes, message):
    with pytest.raises(SpecError, match=message):
        AnimationSpec(**changes).check()


def test_a_bad_motion_curve_names_the_curve_and_column():
    with pytest.raises(CurveError, match="zoom: .*") as caught:
        AnimationSpec(motion=MotionSettings(zoom="0: (1 +)")).check()
    assert caught.value.line == 1


def test_curves_evaluate_with_the_audio_variable():
    motion = MotionSettings(zoom="0: (1 + 0.5 * audio)", strength="0: (0.2), 4: (0.6)")
    audio = np.array([0.0, 1.0, 0.5, 0.0, 0.25])
    curves = evaluate_curves(motion, 5, {"audio": audio})
    assert curves.zoom.tolist() == [1.0, 1.5, 1.25, 1.0, 1.125]
    assert curves.strength == pytest.approx([0.2, 0.3, 0.4, 0.5, 0.6])
    assert curves.feedback
    silent = evaluate_curves(motion, 5)  # no audio track: the variable is 0
    assert silent.zoom.tolist() == [1.0] * 5


def test_out_of_range_curve_values_name_the_frame():
    with pytest.raises(SpecError, match="strength curve must be in \\[0, 1\\], got 1.2 at frame 4"):
        evaluate_curves(MotionSettings(strength="0: (0.3*t)"), 5)


def test_where_frames_start_and_how_many_steps_they_run():
    spec = AnimationSpec(input=InputSettings(image="x.png"))
    assert init_kinds(spec, 3, feedback=False) == ("image",) * 3
    assert init_kinds(spec, 3, feedback=True) == ("image", "feedback", "feedback")
    assert init_kinds(AnimationSpec(), 2, feedback=True) == ("noise", "feedback")
    assert [img2img_steps(10, s) for s in (0, 0.3, 0.55, 1)] == [0, 3, 5, 10]


# -- motion ---------------------------------------------------------------------------------


def picture(height: int, width: int) -> torch.Tensor:
    """(1, 3, H, W) with distinct values everywhere, so any misplaced pixel shows."""
    rng = np.random.default_rng(1)
    return torch.from_numpy(rng.random((1, 3, height, width))).float()


def test_a_translation_moves_pixels_right_and_down():
    image = picture(24, 40)
    moved = warp(image, 1.0, 0.0, 5.0, 3.0, "zero")
    assert torch.allclose(moved[..., 3:, 5:], image[..., :-3, :-5], atol=1e-5)
    assert moved[..., :3, :].abs().max() < 1e-5 and moved[..., :, :5].abs().max() < 1e-5


def test_a_quarter_turn_about_the_centre_of_a_non_square_image():
    """Counter-clockwise on screen: what was right of the centre goes above it."""
    height, width = 25, 41  # odd sides: the centre is a pixel
    image = picture(height, width)
    turned = warp(image, 1.0, 90.0, 0.0, 0.0, "zero")
    cy, cx = 12, 20
    for u in range(-10, 11, 5):  # offset from the centre, x to the right, y down
        for v in range(-10, 11, 5):
            # out(c + (u, v)) = in(c + R^-1 (u, v)) = in(c + (-v, u))
            assert torch.allclose(
                turned[0, :, cy + v, cx + u], image[0, :, cy + u, cx - v], atol=1e-4
            )
    # The marked pixel right of the centre lands above it.
    marked = torch.zeros(1, 3, height, width)
    marked[..., cy, cx + 8] = 1
    out = warp(marked, 1.0, 90.0, 0.0, 0.0, "zero")
    assert out[0, 0].argmax().item() == (cy - 8) * width + cx


def test_zoom_scales_about_the_centre():
    marked = torch.zeros(1, 1, 33, 33)
    marked[..., 16, 20] = 1  # 4 px right of the centre
    out = warp(marked, 2.0, 0.0, 0.0, 0.0, "zero")
    assert out[0, 0, 16, 24] == pytest.approx(1.0)  # now 8 px right


def test_border_modes_fill_differently():
    image = picture(16, 16)
    moved = {
        mode: warp(image, 1.0, 0.0, 4.0, 0.0, mode) for mode in ("zero", "replicate", "reflect")
    }
    assert moved["zero"][..., :4].abs().max() == 0
    # replicate repeats the old left column; reflect mirrors the picture at its edge
    assert torch.allclose(
        moved["replicate"][..., :4], image[..., :1].expand(-1, -1, -1, 4), atol=1e-5
    )
    assert torch.allclose(moved["reflect"][..., 3], image[..., 0], atol=1e-5)
    assert torch.allclose(moved["reflect"][..., 0], image[..., 3], atol=1e-5)
    assert not torch.allclose(moved["reflect"], moved["replicate"])


# -- colour ---------------------------------------------------------------------------------


def test_lab_round_trip():
    rgb = np.random.default_rng(2).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    back = np.round(lab_to_rgb(rgb_to_lab(rgb)) * 255)
    assert np.abs(back - rgb).max() <= 1
    assert rgb_to_lab(np.array([255, 255, 255], np.uint8)) == pytest.approx([100, 0, 0], abs=1e-3)


def test_colour_matching_moves_the_histograms_to_the_reference():
    rng = np.random.default_rng(3)
    frame = np.clip(rng.normal((60, 40, 30), 15, (48, 48, 3)), 0, 255).astype(np.uint8)
    # A reference well inside the RGB gamut, so clipping at the gamut's edge does not blur the test.
    reference = np.clip(rng.normal((110, 120, 170), 20, (32, 64, 3)), 0, 255).astype(np.uint8)
    matched = ColorReference(reference).match(frame)
    assert matched.shape == frame.shape and matched.dtype == np.uint8
    got, want, before = (rgb_to_lab(x).reshape(-1, 3) for x in (matched, reference, frame))
    for channel in range(3):
        q = np.linspace(0.05, 0.95, 10)
        error = np.abs(np.quantile(got[:, channel], q) - np.quantile(want[:, channel], q)).max()
        start = np.abs(np.quantile(before[:, channel], q) - np.quantile(want[:, channel], q)).max()
        assert error < 2.0 < start
    assert np.abs(ColorReference(frame).match(frame).astype(int) - frame).max() <= 1


# -- coherence ------------------------------------------------------------------------------


def test_coherence_in_one_batch_equals_frame_by_frame():
    latents = torch.randn(6, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    batched = Coherence(0.5, 0.3).apply(latents)
    single = Coherence(0.5, 0.3)
    one_by_one = torch.cat([single.apply(latents[i : i + 1]) for i in range(6)])
    assert torch.equal(batched, one_by_one)
    assert torch.equal(batched[0], latents[0])
    # frame 1 is pulled half way to frame 0
    assert torch.allclose(batched[1], (latents[0] + latents[1]) / 2)
