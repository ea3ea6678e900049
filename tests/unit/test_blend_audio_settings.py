"""A blend's soundtrack settings, without a track: the times' checks (``BlendSpec.check``),
picking spaced onsets (``studio.audio.placement``) and audio-timed video frames
(``studio.blend.soundtrack.timed_sources``)."""

from __future__ import annotations

import numpy as np
import pytest

from studio.audio.placement import check_times_in_track, strongest_onsets
from studio.blend.soundtrack import timed_sources
from studio.errors import SpecError
from studio.spec import BlendAudioSettings, BlendKeyframe, BlendSpec


def blend(audio: BlendAudioSettings, prompts: int = 3, **output) -> BlendSpec:
    spec = BlendSpec()
    keys = tuple(BlendKeyframe(f"prompt {i}") for i in range(prompts))
    return spec.replace(
        prompts=spec.prompts.replace(keyframes=keys),
        audio=audio,
        output=spec.output.replace(**output),
    )


TRACK = "song.wav"  # not opened: the check is pure


@pytest.mark.parametrize(
    ("audio", "extra", "message"),
    [
        ({"times": (0.0, 4.5)}, {}, r"times need one time per prompt \(3\), got 2"),
        ({"times": (0.0, 4.5, 4.5)}, {}, r"time 3 \(4.5 s\) is not after time 2 \(4.5 s\)"),
        ({"times": (0.0, 6.0, 2.0)}, {}, r"time 3 \(2 s\) is not after time 2 \(6 s\)"),
        ({"times": (-1.0, 2.0, 3.0)}, {}, r"time 1 must be 0 or more seconds, got -1.0"),
        ({"times": (0.0, float("nan"), 3.0)}, {}, r"time 2 must be 0 or more seconds, got nan"),
        ({"times": (0.0, 1.0, 2.0), "placement": "even"}, {}, "times or placement 'even'"),
        ({"times": (0.0, 1.0, 2.0), "path": ""}, {}, "prompt times need an audio file"),
        ({"timing": True, "path": ""}, {}, "audio timing needs an audio file"),
        ({"crossfeed": 0.5}, {}, "audio crossfeed 0.5 scales the crossfeed, which is off"),
        ({"crossfeed": 1.5}, {}, "audio crossfeed must be"),
        ({}, {"fill": "none"}, "fill 'none' needs transitions of the tree's own length"),
    ],
)
def test_bad_audio_settings_are_refused_naming_the_value(audio, extra, message):
    spec = blend(BlendAudioSettings(**{"path": TRACK, **audio}), **extra)
    with pytest.raises(SpecError, match=message):
        spec.check()


def test_good_times_pass_and_a_blend_without_a_track_is_unchanged():
    blend(BlendAudioSettings(path=TRACK, times=(0.0, 4.5, 9.0))).check()
    blend(BlendAudioSettings(path=TRACK, times=(1.0, 4.5, 9.0), timing=True)).check()
    blend(BlendAudioSettings(), fill="none").check()  # no track: fill none as before
    assert BlendSpec().audio == BlendAudioSettings() and not BlendSpec().audio.path


def test_times_must_fall_within_the_track():
    check_times_in_track((0.0, 3.9), 4.0)
    with pytest.raises(SpecError, match=r"time 2 \(4 s\) is not within the track.*4.00 s"):
        check_times_in_track((0.0, 4.0), 4.0)


ONSETS = np.array([0.3, 1.2, 1.5, 2.0, 3.0])
STRENGTH = np.array([1.0, 0.9, 0.95, 0.3, 0.8])


def test_the_strongest_onsets_are_taken_spaced_from_the_start_and_each_other():
    # 0.3 is too near the start, 1.5 is strongest, 1.2 too near it; then 3.0.
    picked = strongest_onsets(ONSETS, STRENGTH, 2, end=3.5, min_gap=0.25, even_gap=1.0)
    assert picked == (1.5, 3.0)
    # With the wide gap impossible for three, the gap falls to min_gap: the strongest that
    # keep it (0.3 is still too near the start, 1.2 too near 1.5).
    assert strongest_onsets(ONSETS, STRENGTH, 3, end=3.5, min_gap=0.4, even_gap=1.0) == (
        1.5,
        2.0,
        3.0,
    )
    # Onsets after the end are not taken.
    assert strongest_onsets(ONSETS, STRENGTH, 2, end=2.5, min_gap=0.25, even_gap=0.25) == (
        0.3,
        1.5,
    )


def test_too_few_onsets_are_refused_with_what_to_do():
    with pytest.raises(SpecError, match=r"has 3 onset\(s\) at least 0.80 s apart.*need 4.*--times"):
        strongest_onsets(ONSETS, STRENGTH, 4, end=3.5, min_gap=0.8, even_gap=1.0)


def test_timed_video_frames_follow_the_progress_and_end_on_the_keyframe():
    progress = np.array([0.0, 0.1, 0.2, 0.9, 0.95, 1.0])  # slow, a jump, then held
    sources = timed_sources(progress, 5, last=True)
    positions = [rank + alpha for rank, alpha in sources]
    assert positions[:-1] == pytest.approx(progress * 4)
    assert sources[-1] == (4, 0.0) and sources[-2] == (4, 0.0)
    assert all(0 <= alpha < 1 for _, alpha in sources)
    assert len(timed_sources(progress, 5, last=False)) == len(progress)
