"""A blend with a soundtrack on the real tiny model: prompts placed on a click track's onsets,
the video as long as the track, audio timing and crossfeed, and the track in the MP4.

librosa compiles on its first call: the click track is analysed once per module (its onsets
and envelope are cached per file by ``studio.audio.analysis``), and one render is made.
"""

from __future__ import annotations

import numpy as np
import pytest

from studio.blend.plan import plan_blend, segment_sources
from studio.blend.render import render_blend
from studio.errors import SpecError
from studio.media.readers import probe, read_frames
from studio.spec import (
    BlendAudioSettings,
    BlendKeyframe,
    BlendOutputSettings,
    BlendPromptSettings,
    BlendSettings,
    BlendSpec,
    DiffusionSettings,
)
from tests.support.media import audio_seconds, click_track

# Two loud clicks and a soft one between them; 4 s of track.
CLICKS = {1.2: 0.8, 2.0: 0.02, 3.0: 0.8}
SECONDS = 4.0


@pytest.fixture(scope="module")
def track(tmp_path_factory) -> str:
    return str(click_track(tmp_path_factory.mktemp("audio") / "clicks.wav", CLICKS, SECONDS))


def spec_for(track: str, prompts: int = 3, fps: int = 12, duration: float = 0.0, **audio):
    return BlendSpec(
        prompts=BlendPromptSettings(
            keyframes=tuple(
                BlendKeyframe(p) for p in ("a red circle", "a blue square", "a star")[:prompts]
            )
        ),
        diffusion=DiffusionSettings(
            model="builtin:tiny", steps=2, guidance=1.0, width=64, height=64, seed=3
        ),
        blend=BlendSettings(setup="auto", diffusion_frames=3, crossfeed_power=0.5),
        output=BlendOutputSettings(fps=fps, duration=duration, format="mp4"),
        audio=BlendAudioSettings(path=track, **audio),
    )


def test_prompts_land_on_the_loud_clicks_and_the_video_lasts_the_track(track):
    spec = spec_for(track, crossfeed=1.0)
    spec.check()
    plan = plan_blend(spec)
    assert plan.video_frames == SECONDS * 12  # 48 frames: the track's length
    assert plan.track.source == "onsets" and plan.joins[0] == 0
    # The two loud clicks, each within a frame; the soft one is passed over.
    for join, click in zip(plan.joins[1:], (1.2, 3.0), strict=True):
        assert abs(join - click * 12) <= 1, plan.joins
    assert plan.summary()["transition_times"] == [round(j / 12, 4) for j in plan.joins]
    # Crossfeed is lowered where the movie passes a click, not in the silence before it.
    assert plan.crossfeed_scale(0, 1.0) < 0.5 < 0.9 < plan.crossfeed_scale(0, 0.5)

    # A duration given is kept; the prompts stay on the clicks.
    shorter = plan_blend(spec_for(track, duration=3.5))
    assert shorter.video_frames == 42 and shorter.joins == plan.joins
    with pytest.raises(SpecError, match=r"time 3 \(3 s\) is after the video's last frame"):
        plan_blend(spec_for(track, duration=2.5, times=(0.0, 1.0, 3.0)))


def test_audio_timing_moves_faster_through_the_click(track):
    timed = plan_blend(spec_for(track, prompts=2, fps=4, times=(0.0, 1.5), timing=True))
    assert timed.joins == (0, 6) and timed.video_frames == 16
    positions = [rank + alpha for rank, alpha in timed.sources(0, 3)]
    linear = [rank + num / den for rank, num, den in segment_sources(6, 3, last=True)]
    assert len(positions) == len(linear) == 7 and positions[-1] == linear[-1] == 2
    steps = np.diff(positions)
    # The click at 1.2 s is video frame 5: the step into it is the largest.
    assert int(np.argmax(steps)) == 4 and steps[4] > 2 / 6
    assert positions != pytest.approx(linear)


def test_a_render_holds_the_last_prompt_to_the_end_and_carries_the_track(track, tmp_path, manager):
    spec = spec_for(track, prompts=2, fps=4, times=(0.0, 1.5), timing=True, crossfeed=1.0)
    result = render_blend(spec, tmp_path, manager=manager)
    video = result.outputs[0]
    assert video.kind == "mp4" and video.has_audio and result.frames == 16
    facts = probe(video.path)
    assert facts["has_audio"] and facts["frames"] == 16
    assert abs(audio_seconds(video.path) - SECONDS) < 0.1
    frames = [f.astype(np.int16) for f in read_frames(video.path)]
    held = frames[6:]  # the last prompt from 1.5 s to the end of the track
    assert max(np.abs(f - held[-1]).mean() for f in held) < 2
    assert np.abs(frames[0] - held[-1]).mean() > 5  # and it is not the first prompt
