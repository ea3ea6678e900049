"""ControlNets in the animation engine, on builtin:tiny with a tiny random ControlNet.

The ControlNet (tests/support/controlnet.py) has non-zero residual convolutions, so a scale
above 0 changes the frames. Frames are compared from PNG output, exactly.
"""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from studio.animation.render import render_animation
from studio.blend.render import render_blend
from studio.errors import MediaError, ModelLoadError, SpecError
from studio.media.control import ControlMaps, check_control_media
from studio.media.readers import read_frames
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    BlendKeyframe,
    BlendOutputSettings,
    BlendPromptSettings,
    BlendSettings,
    BlendSpec,
    DiffusionSettings,
    OutputSettings,
    PromptSettings,
)
from studio.spec.control import ControlNetItem, ControlSettings
from tests.support.media import index_of, make_video

SIZE = 32


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> dict[str, Path]:
    """Two control images, very unlike each other, and a lossless video of the two."""
    folder = tmp_path_factory.mktemp("control")
    a = np.zeros((SIZE, SIZE, 3), np.uint8)
    a[8:24, 8:24] = 255
    b = np.full((SIZE, SIZE, 3), 255, np.uint8)
    b[:, :16] = 0
    video = folder / "ab.mp4"
    writer = imageio_ffmpeg.write_frames(
        str(video),
        (SIZE, SIZE),
        fps=8,
        macro_block_size=1,
        output_params=["-crf", "0", "-pix_fmt", "yuv444p"],
        pix_fmt_out="yuv444p",
        ffmpeg_log_level="error",
    )
    writer.send(None)
    for frame in (a, b):
        writer.send(frame)
    writer.close()
    paths = {"video": video}
    # The images are the video's frames as decoded, so both sources give the same pixels.
    for name, frame in zip(("a", "b"), read_frames(video), strict=True):
        paths[name] = folder / f"{name}.png"
        Image.fromarray(frame).save(paths[name])
    return paths


def make_spec(*nets: ControlNetItem) -> AnimationSpec:
    """Two frames in one batch (their scales may differ), guided, the last step unguided."""
    return AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle\n1: a blue square"),
        diffusion=DiffusionSettings(
            model="builtin:tiny", steps=2, width=SIZE, height=SIZE, seed=3, guidance_stop=0.5
        ),
        animation=AnimationSettings(fps=8, batch_size=2),
        output=OutputSettings(format="png"),
        control=ControlSettings(nets=nets),
    )


@pytest.fixture(scope="module")
def frames(tmp_path_factory, manager, tiny_controlnet, tiny_controlnet_2, pictures):
    """``frames(*nets)``: the frames of ``make_spec(*nets)``, each spec rendered once.

    A net is ``(source, scale)`` or ``(source, scale, preprocess, second)``; ``second``
    picks the other ControlNet.
    """
    made: dict[tuple, list[np.ndarray]] = {}
    out = tmp_path_factory.mktemp("renders")

    def get(*nets: tuple) -> list[np.ndarray]:
        if nets not in made:
            items = []
            for source, scale, *rest in nets:
                preprocess, second = rest or ("none", False)
                path = pictures[source]
                kind = "video" if path.suffix == ".mp4" else "image"
                folder = tiny_controlnet_2 if second else tiny_controlnet
                items.append(
                    ControlNetItem(
                        model=str(folder), scale=scale, preprocess=preprocess, **{kind: str(path)}
                    )
                )
            result = render_animation(make_spec(*items), out / str(len(made)), manager=manager)
            made[nets] = [f.astype(np.int16) for f in read_frames(result.outputs[0].path)]
        return made[nets]

    return get


def same(a: list[np.ndarray], b: list[np.ndarray]) -> list[bool]:
    return [bool((x == y).all()) for x, y in zip(a, b, strict=True)]


def test_scale_zero_is_the_plain_render_and_scale_one_is_not(frames):
    plain = frames()
    assert same(plain, frames(("a", "0"))) == [True, True]
    on = frames(("a", "1"))
    assert same(plain, on) == [False, False]
    assert min(np.abs(x - y).mean() for x, y in zip(plain, on, strict=True)) > 1


def test_a_scale_curve_scales_each_frame_of_a_batch(frames):
    # One batch, two scales: frame 0 (scale 0) is the plain frame, frame 1 the full one.
    ramp = frames(("a", "0: (0), 1: (1)"))
    assert same(frames(), ramp) == [True, False]
    assert same(frames(("a", "1")), ramp) == [False, True]


def test_two_controlnets_sum(frames):
    one = frames(("a", "1"))
    second = ("b", "1", "edges", True)
    assert same(one, frames(("a", "1"), second)) == [False, False]
    second_off = ("b", "0", "edges", True)
    assert same(one, frames(("a", "1"), second_off)) == [True, True]


def test_a_control_video_steers_each_frame_with_its_own_frame(frames):
    from_video = frames(("video", "1"))
    assert same(from_video, frames(("a", "1"))) == [True, False]
    assert same(from_video, frames(("b", "1"))) == [False, True]


def test_control_maps_read_one_video_frame_per_output_frame(tmp_path):
    video = make_video(tmp_path / "count.mp4", frames=6, fps=4)
    control = ControlSettings(nets=(ControlNetItem(model="cn", video=str(video)),))
    seen: list[tuple[int, int, int]] = []
    sources = check_control_media(control, fps=8, frames=12)
    maps = ControlMaps(
        sources, 32, 32, fps=8, hook=lambda i, f, m: seen.append((i, f, index_of(m)))
    )
    maps.frame(0)
    maps.skip(3)  # a resume: frames 1-3 were made before
    for f in range(4, 12):
        maps.frame(f)
    maps.close()
    # At twice the video's rate each video frame steers two output frames.
    assert seen == [(0, f, f // 2) for f in (0, *range(4, 12))]
    with pytest.raises(MediaError, match=r"gives 12 frames at 8 fps, but the animation has 13"):
        check_control_media(control, fps=8, frames=13)
    with pytest.raises(MediaError, match="a blend takes a control image"):
        check_control_media(control)


def test_a_folder_that_is_not_a_controlnet_is_refused(tmp_path, manager, pictures):
    (tmp_path / "config.json").write_text('{"_class_name": "UNet2DConditionModel"}')
    spec = make_spec(ControlNetItem(model=str(tmp_path), image=str(pictures["a"])))
    with pytest.raises(ModelLoadError, match="holds a UNet2DConditionModel, not a ControlNetModel"):
        render_animation(spec, tmp_path / "out", manager=manager)


def blend_spec(*nets: ControlNetItem) -> BlendSpec:
    """Two prompts, three diffusion frames, guided: a control image steers every branch."""
    return BlendSpec(
        prompts=BlendPromptSettings(
            keyframes=(BlendKeyframe("a red circle"), BlendKeyframe("a blue square"))
        ),
        diffusion=DiffusionSettings(
            model="builtin:tiny", steps=3, guidance=3.0, width=SIZE, height=SIZE, seed=7
        ),
        blend=BlendSettings(setup="auto", diffusion_frames=3),
        output=BlendOutputSettings(fps=8, fill="none", format="png"),
        control=ControlSettings(nets=nets),
    )


def test_a_control_image_steers_every_frame_of_a_blend(
    tmp_path, manager, tiny_controlnet, pictures
):
    def blend(scale: str | None) -> list[np.ndarray]:
        nets = () if scale is None else (net_on(tiny_controlnet, pictures["a"], scale),)
        result = render_blend(blend_spec(*nets), tmp_path / str(scale), manager=manager)
        return [f.astype(np.int16) for f in read_frames(result.outputs[0].path)]

    plain = blend(None)
    assert same(plain, blend("0")) == [True] * len(plain)
    assert not any(same(plain, blend("1")))


def net_on(folder: Path, image: Path, scale: str) -> ControlNetItem:
    return ControlNetItem(model=str(folder), image=str(image), scale=scale, preprocess="canny")


def test_a_blend_refuses_a_control_video_and_a_scale_curve(pictures):
    video = ControlNetItem(model="cn", video=str(pictures["video"]))
    with pytest.raises(SpecError, match="a blend takes a control image, not a control video"):
        blend_spec(video).check()
    curve = ControlNetItem(model="cn", image=str(pictures["a"]), scale="0: (0), 4: (1)")
    with pytest.raises(SpecError, match="a blend takes a constant control scale"):
        blend_spec(curve).check()
    blend_spec(ControlNetItem(model="cn", image=str(pictures["a"]), scale="0.5")).check()


def test_sdxl_controlnets_and_sdxl_models_are_refused_from_configs(tmp_path, tiny_controlnet):
    from studio.pipeline.control import check_controlnet_ref

    xl = tmp_path / "xl-cn"
    xl.mkdir()
    (xl / "config.json").write_text(
        '{"_class_name": "ControlNetModel", "addition_embed_type": "text_time"}'
    )
    with pytest.raises(ModelLoadError, match="SDXL ControlNets are not supported yet"):
        check_controlnet_ref(str(xl))
    with pytest.raises(ModelLoadError, match="SDXL ControlNets are not supported yet"):
        check_controlnet_ref(str(tiny_controlnet), model_family="sdxl")
    check_controlnet_ref(str(tiny_controlnet), model_family="sd1")


def test_controlnets_steer_img2img_frames_with_motion(tmp_path, manager, tiny_controlnet, pictures):
    def moving(*nets: ControlNetItem) -> list[np.ndarray]:
        spec = make_spec(*nets)
        spec = spec.replace(
            input=spec.input.replace(image=str(pictures["b"])),
            motion=spec.motion.replace(zoom="0: (1.1)", strength="0: (0.5)"),
        )
        result = render_animation(spec, tmp_path / str(len(nets)), manager=manager)
        return [f.astype(np.int16) for f in read_frames(result.outputs[0].path)]

    plain = moving()
    steered = moving(ControlNetItem(model=str(tiny_controlnet), image=str(pictures["a"])))
    assert same(plain, steered) == [False, False]
