"""Audio: loading (studio.media.audio), key frames, envelope and timing (studio.audio.analysis),
schedule merging (studio.languages.schedule_edit) and muxing (studio.media.writers).

Tracks are synthesised here (numpy + soundfile, other formats through imageio-ffmpeg's
ffmpeg). librosa compiles on its first call, so onsets and envelopes are computed once per
module and shared through fixtures.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from studio.animation.plan import plan_animation
from studio.animation.render import render_animation
from studio.audio.analysis import frame_envelope, onset_keyframes, timing_progress
from studio.errors import MediaError, ScheduleError, SpecError
from studio.events import OutputFile
from studio.languages.curves import parse_curve
from studio.languages.schedule import Keyframe, PromptSchedule, format_schedule, parse_schedule
from studio.languages.schedule_edit import merge_keyframes
from studio.media.audio import (
    MAX_AUDIO_SECONDS,
    check_audio,
    load_audio,
    without_mpg123_xing_warning,
)
from studio.media.readers import probe
from studio.media.writers import mux_audio, open_writer
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    AudioSettings,
    DiffusionSettings,
    OutputSettings,
    PromptSettings,
)
from tests.support.media import audio_seconds, ffmpeg

RATE = 22050
SECONDS = 3.5
CLICKS = (0.5, 1.25, 2.0, 2.9)  # seconds
FPS = 12


def synth_clicks(rate: int = RATE, seconds: float = SECONDS) -> np.ndarray:
    """A quiet 220 Hz tone (for HPSS to leave in the harmonic part) with sharp noise clicks."""
    t = np.arange(int(rate * seconds)) / rate
    y = 0.05 * np.sin(2 * np.pi * 220 * t)
    rng = np.random.default_rng(0)
    n = int(0.01 * rate)
    for click in CLICKS:
        i = int(click * rate)
        y[i : i + n] += 0.8 * rng.standard_normal(n) * np.exp(-np.arange(n) / (0.002 * rate))
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def tracks(tmp_path_factory):
    """The click track as wav, and mp3 / ogg / flac encoded from it by ffmpeg."""
    folder = tmp_path_factory.mktemp("tracks")
    sf.write(folder / "clicks.wav", synth_clicks(), RATE, subtype="PCM_16")
    for ext in ("mp3", "ogg", "flac"):
        ffmpeg("-i", str(folder / "clicks.wav"), str(folder / f"clicks.{ext}"))
    return folder


@pytest.fixture(scope="module")
def found():
    samples = synth_clicks()
    return {c: onset_keyframes(samples, RATE, FPS, c) for c in ("percussive", "both")}


@pytest.fixture(scope="module")
def envelope():
    return frame_envelope(synth_clicks(), RATE, FPS, 48, "percussive")


# -- key frames ----------------------------------------------------------------------------


@pytest.mark.parametrize("component", ["percussive", "both"])
def test_clicks_give_keyframes_within_one_frame(found, component):
    result = found[component]
    assert result.frames[0] == 0 and list(result.frames) == sorted(set(result.frames))
    detected = result.frames[1:]
    assert len(detected) == len(CLICKS), result.frames  # nothing on the steady tone
    for frame, click in zip(detected, CLICKS, strict=True):
        assert abs(frame - click * FPS) <= 1, (frame, click * FPS)
    for frame, seconds in zip(detected, result.timestamps[1:], strict=True):
        assert abs(seconds * FPS - frame) <= 0.5  # each frame is its onset's nearest
    assert result.end_frame == 41  # 3.5 s at 12 fps: frames 0..41
    assert result.to_dict()["keyframes"] == list(result.frames)


def test_silence_gives_only_frame_zero():
    silent = np.zeros(RATE, dtype=np.float32)
    assert onset_keyframes(silent, RATE, FPS, "both").frames == (0,)
    assert np.all(frame_envelope(silent, RATE, FPS, 12, "both") == 0)


@pytest.mark.parametrize("ext", ["mp3", "ogg", "flac"])
def test_encoded_formats_round_trip(tracks, found, ext):
    samples, rate = load_audio(tracks / f"clicks.{ext}")
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) / rate - SECONDS) < 0.1
    again = onset_keyframes(samples, rate, FPS, "both")
    assert len(again.frames) == len(found["both"].frames)
    assert all(abs(a - b) <= 1 for a, b in zip(again.frames, found["both"].frames, strict=True))


# -- envelope ------------------------------------------------------------------------------


def test_envelope_is_loud_on_the_clicks_and_zero_after_the_track(envelope):
    assert envelope.shape == (48,) and envelope.dtype == np.float64
    assert envelope.min() >= 0 and envelope.max() == 1.0
    clicks = [round(c * FPS) for c in CLICKS]
    quiet = [f for f in range(42) if all(abs(f - c) > 2 for c in clicks) and f > 2]
    assert min(envelope[clicks]) > 0.8 > 0.5 > max(envelope[quiet])
    assert np.all(envelope[43:] == 0)  # the track ends at 3.5 s = frame 42


def test_envelope_variable_works_in_a_curve(envelope):
    curve = parse_curve("0: (1 + 0.1*audio), 24: (1)", names=("t", "audio"))
    values = curve.values(48, {"audio": envelope})
    assert np.allclose(values[:24], 1 + 0.1 * envelope[:24])
    assert np.all(values[24:] == 1)


def test_easing_curve_reads_the_envelope_in_the_plan(tracks):
    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle\n47: a blue square"),
        animation=AnimationSettings(fps=FPS, easing="curve", easing_curve="0: (audio)"),
        audio=AudioSettings(path=str(tracks / "clicks.wav"), component="percussive"),
    )
    weight = plan_animation(spec).weights.weight
    samples, rate = load_audio(tracks / "clicks.wav")
    envelope = frame_envelope(samples, rate, FPS, 48, "percussive")
    assert np.allclose(weight[1:], envelope[1:])  # frame 0 is the keyframe: weight 0


# -- timing --------------------------------------------------------------------------------


@st.composite
def timings(draw):
    keys = sorted(draw(st.sets(st.integers(0, 40), min_size=1, max_size=5)))
    loud = st.floats(0, 1) | st.just(0.0)
    env = np.array(draw(st.lists(loud, min_size=keys[-1] + 1, max_size=keys[-1] + 1)))
    return keys, env, draw(st.floats(0, 1))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(timings())
@example(([0, 1], np.array([0.0, 5e-324]), 0.5))  # a subnormal loudness
def test_timing_is_monotone_from_zero_to_one_in_each_segment(case):
    keys, env, smoothing = case
    progress = timing_progress(keys, env, smoothing)
    assert progress.shape == env.shape
    assert np.all(progress[keys] == 0) and np.all(progress[: keys[0]] == 0)
    for a, b in zip(keys, keys[1:], strict=False):
        inside = progress[a:b]
        assert np.all(np.diff(inside) >= 0) and inside.min() >= 0 and inside.max() <= 1
        total = env[a + 1 : b + 1].sum()
        if total > 0:  # the step into the right keyframe is what is left to reach 1
            # env[b] / total first: a subnormal envelope times (1 - smoothing) underflows to 0.
            step = smoothing / (b - a) + (1 - smoothing) * (env[b] / total)
            assert inside[-1] + step == pytest.approx(1.0)
    assert np.allclose(timing_progress(keys, env, 1.0)[: keys[-1]], _linear(keys)[: keys[-1]])


def _linear(keys):
    out = np.zeros(keys[-1] + 1)
    for a, b in zip(keys, keys[1:], strict=False):
        out[a:b] = np.arange(b - a) / (b - a)
    return out


def test_audio_timing_moves_fastest_on_the_clicks(tracks):
    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle\n41: a blue square"),
        animation=AnimationSettings(fps=FPS),
        audio=AudioSettings(
            path=str(tracks / "clicks.wav"), component="percussive", timing=True, smoothing=0
        ),
    )
    weight = plan_animation(spec).weights.weight
    steps = np.diff(weight[:41])
    assert np.all(steps >= 0)
    biggest = set(np.argsort(steps)[-len(CLICKS) :] + 1)  # the frame each step arrives at
    assert all(any(abs(f - c * FPS) <= 1 for f in biggest) for c in CLICKS)
    linear = plan_animation(spec.replace(audio=AudioSettings())).weights.weight
    smoothed = spec.replace(audio=AudioSettings(path=spec.audio.path, timing=True, smoothing=1))
    assert np.allclose(plan_animation(smoothed).weights.weight, linear)


def test_timing_without_a_track_is_a_spec_error():
    with pytest.raises(SpecError, match="audio timing needs an audio file"):
        AnimationSpec(audio=AudioSettings(timing=True)).check()


# -- schedules -----------------------------------------------------------------------------


def test_added_key_frames_repeat_the_prompt_in_force():
    text = "# my song\n10: a red circle | negative: blur\n\n30: a blue square  # chorus\n"
    merged = merge_keyframes(text, [0, 5, 10, 20, 40])
    assert merged == (
        "# my song\n"
        "0: a red circle | negative: blur\n"
        "5: a red circle | negative: blur\n"
        "10: a red circle | negative: blur\n"
        "20: a red circle | negative: blur\n"
        "\n"
        "30: a blue square  # chorus\n"
        "40: a blue square\n"
    )


def test_moved_keyframes_keep_their_lines_and_order():
    text = "0: a\r\n12: b  # beat\r\n30 [seed=4]: c\r\n"
    assert merge_keyframes(text, [0, 9, 14, 28], mode="move") == (
        "0: a\r\n14: b  # beat\r\n28 [seed=4]: c\r\n"
    )


def test_merging_into_a_broken_schedule_says_where():
    with pytest.raises(ScheduleError, match="line 2"):
        merge_keyframes("0: a\nfive: b", [3])


PROMPT = st.text("abcxyz ()#:|,", min_size=1, max_size=12).map(str.strip).filter(bool)


@st.composite
def schedules(draw):
    frames = draw(st.lists(st.integers(0, 300), min_size=1, max_size=5, unique=True))
    keys = [
        Keyframe(f, p, draw(st.none() | PROMPT), draw(st.none() | st.integers(0, 99)))
        for f, p in zip(frames, draw(st.lists(PROMPT, min_size=len(frames))), strict=False)
    ]
    try:
        lines = format_schedule(PromptSchedule(tuple(sorted(keys, key=lambda k: k.frame))))
    except ValueError:  # a prompt that cannot be written (e.g. " #" would start a comment)
        lines = format_schedule(PromptSchedule((Keyframe(0, "a"),)))
    lines = lines.splitlines()
    draw(st.randoms()).shuffle(lines)  # the user's order, with comments and blank lines
    lines[draw(st.integers(0, len(lines))) : 0] = ["# a comment", ""]
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules(), st.lists(st.integers(0, 400), max_size=8))
def test_adding_keeps_every_keyframe_and_adds_the_detected_ones(text, frames):
    before = parse_schedule(text)
    after = parse_schedule(merge_keyframes(text, frames, mode="add"))
    assert set(before.keyframes) <= set(after.keyframes)  # frame, prompt, negative and seed
    assert {k.frame for k in after.keyframes} == {k.frame for k in before.keyframes} | set(frames)
    old = {k.frame for k in before.keyframes}
    for key in after.keyframes:
        if key.frame not in old:
            in_force = [k for k in before.keyframes if k.frame <= key.frame] or [
                before.keyframes[0]
            ]
            assert (key.prompt, key.negative, key.seed) == (
                in_force[-1].prompt,
                in_force[-1].negative,
                None,
            )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedules(), st.lists(st.integers(0, 400), max_size=8))
def test_moving_keeps_prompts_in_order_on_detected_frames(text, frames):
    before = parse_schedule(text)
    after = parse_schedule(merge_keyframes(text, frames, mode="move"))
    strip = [(k.prompt, k.negative, k.seed) for k in before.keyframes]
    assert [(k.prompt, k.negative, k.seed) for k in after.keyframes] == strip
    wanted = set(frames)
    moved = [k.frame for k in after.keyframes]
    previous = -1
    for key, frame in zip(before.keyframes, moved, strict=True):
        free = [f for f in wanted if f > previous]
        assert frame in wanted if free else frame == max(key.frame, previous + 1)
        previous = frame


# -- bad media -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_media(tmp_path_factory, tracks):
    """name -> (file, words the error must contain)."""
    folder = tmp_path_factory.mktemp("bad")
    wav = (tracks / "clicks.wav").read_bytes()
    mp3 = (tracks / "clicks.mp3").read_bytes()
    (folder / "empty.wav").write_bytes(b"")
    (folder / "truncated.wav").write_bytes(wav[: len(wav) // 2])
    (folder / "truncated.mp3").write_bytes(mp3[: len(mp3) // 2])
    (folder / "truncated.flac").write_bytes((tracks / "clicks.flac").read_bytes()[:3000])
    (folder / "text.wav").write_text("this is not audio\n" * 20)
    (folder / "notes.txt").write_text("0: a red circle\n")
    sf.write(folder / "silent-length-zero.wav", np.zeros(0, np.int16), RATE, subtype="PCM_16")
    # One second over the limit, at 100 samples a second: 700 kB.
    seconds = int(MAX_AUDIO_SECONDS) + 1
    sf.write(folder / "too-long.wav", np.zeros(seconds * 100, np.int16), 100, subtype="PCM_16")
    return folder, {
        "missing.wav": "does not exist",
        "empty.wav": "is empty",
        "truncated.wav": "truncated",
        "truncated.mp3": "truncated",
        "truncated.flac": "corrupt or truncated",
        "text.wav": "cannot be read as wav",
        "notes.txt": "unsupported format '.txt'",
        "silent-length-zero.wav": "no audio samples",
        "too-long.wav": f"limit is {MAX_AUDIO_SECONDS:.0f} s",
    }


def test_bad_media_is_a_media_error_naming_file_and_problem(bad_media):
    folder, cases = bad_media
    for name, words in cases.items():
        with pytest.raises(MediaError) as info:
            load_audio(folder / name)
        assert name in str(info.value) and words in str(info.value), (name, str(info.value))
        with pytest.raises(MediaError):
            check_audio(folder / name)


def test_bad_audio_passes_the_pure_spec_check_and_fails_check_audio(bad_media):
    # spec.check() opens no file; the render kind's input check decodes the track.
    folder, _ = bad_media
    spec = AnimationSpec(audio=AudioSettings(path=str(folder / "text.wav")))
    spec.check()
    with pytest.raises(MediaError, match="text.wav"):
        check_audio(spec.audio.path)


# -- sound in the output -------------------------------------------------------------------


def _video(path, frames=10, fps=12) -> OutputFile:
    writer = open_writer(path, "mp4", fps=fps, width=32, height=32)
    for i in range(frames):
        writer.write(np.full((32, 32, 3), 20 * i, np.uint8))
    return writer.close()


@pytest.mark.parametrize("track_seconds", [0.3, 2.0])
def test_mux_pads_or_cuts_the_track_to_the_video(tmp_path, track_seconds):
    track = tmp_path / "track.wav"
    sf.write(track, 0.3 * np.ones(int(RATE * track_seconds), np.float32), RATE)
    muxed = mux_audio(_video(tmp_path / "v.mp4"), track)
    assert muxed.has_audio and probe(muxed.path)["has_audio"]
    assert probe(muxed.path)["frames"] == 10
    assert audio_seconds(muxed.path) == pytest.approx(10 / 12, abs=0.01)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_mux_refuses_a_source_without_sound_and_keeps_the_video(tmp_path):
    output = _video(tmp_path / "v.mp4")
    before = output.path.read_bytes()
    with pytest.raises(MediaError, match="no audio stream"):
        mux_audio(output, _video(tmp_path / "silent.mp4").path)
    assert output.path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["silent.mp4", "v.mp4"]


def test_gif_render_keeps_its_frames_and_notes_the_missing_sound(tmp_path, tracks, manager):
    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle\n1: a blue square"),
        diffusion=DiffusionSettings(model="builtin:tiny", steps=1, width=32, height=32),
        animation=AnimationSettings(fps=FPS),
        output=OutputSettings(format="gif"),
        audio=AudioSettings(path=str(tracks / "clicks.wav")),
    )
    result = render_animation(spec, tmp_path, manager=manager)
    assert not result.outputs[0].has_audio
    assert "no sound" in result.extra["notes"][0]
    assert probe(result.outputs[0].path)["frames"] == 2


def test_adding_key_frames_keeps_the_seeds_the_users_keyframes_draw():
    from studio.animation.plan import plan_animation
    from studio.spec import AnimationSpec, DiffusionSettings, PromptSettings

    def seeds_by_frame(text: str) -> dict[int, int]:
        spec = AnimationSpec(
            prompts=PromptSettings(schedule=text), diffusion=DiffusionSettings(seed=7)
        )
        plan = plan_animation(spec)
        return dict(
            zip([k.frame for k in plan.schedule.keyframes], plan.keyframe_seeds, strict=True)
        )

    text = "0: a red circle\n12 [seed=99]: a blue circle\n24: a green star"
    before = seeds_by_frame(text)
    merged = merge_keyframes(text, [0, 5, 18], keep_seeds_from=7)
    after = seeds_by_frame(merged)
    assert {f: after[f] for f in before} == before
    assert set(after) == {0, 5, 12, 18, 24}
    assert "12 [seed=99]:" in merged and "24 [seed=9]:" in merged
    # Without the base seed the later keyframe's seed shifts: the reason for the option.
    assert seeds_by_frame(merge_keyframes(text, [0, 5, 18]))[24] != before[24]


def test_only_mpg123s_xing_warning_is_kept_off_stderr(capfd):
    import os

    with without_mpg123_xing_warning():
        os.write(2, b"Warning: Xing stream size off by more than 1%, fuzzy seeking ...\n")
        os.write(2, b"Note: Illegal Audio-MPEG-Header 0x00000000 at offset 2996.\n")
    assert capfd.readouterr().err == "Note: Illegal Audio-MPEG-Header 0x00000000 at offset 2996.\n"
