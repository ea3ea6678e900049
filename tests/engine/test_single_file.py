"""Single original-layout checkpoints load offline: builtin:tiny written as one LDM
.safetensors (and .ckpt) file, and the tiny SDXL as one (tests/support/ldm_checkpoint.py),
load through the studio with a config folder of their architecture and render the frames
their diffusers folders render;
each shipped config folder builds its family's components (published parameter counts)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from studio.animation.render import render_animation
from studio.errors import ModelLoadError
from studio.media.readers import read_frames
from studio.pipeline import single_file
from studio.pipeline.builtin import builtin_folder
from studio.pipeline.models import ModelManager
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    DiffusionSettings,
    OutputSettings,
    PromptSettings,
)
from tests.support.ldm_checkpoint import config_folder_of, write_ldm_checkpoint

# Published sizes (parameters) of each family's components; a wrong config number shows here.
PARAMETERS = {
    "sd1": {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480},
    "sd2": {"unet": 865_910_724, "vae": 83_653_863, "text_encoder": 340_387_840},
    "sd2-v": {"unet": 865_910_724, "vae": 83_653_863, "text_encoder": 340_387_840},
    "sdxl": {
        "unet": 2_567_463_684,
        "vae": 83_653_863,
        "text_encoder": 123_060_480,
        "text_encoder_2": 694_659_840,
    },
}
CAT = [49406, 320, 1125, 539, 320, 2368, 49407]  # "a photo of a cat" in CLIP's ids


@pytest.fixture(scope="module")
def tiny_files(model_cache, tmp_path_factory):
    """builtin:tiny as one LDM .safetensors and one .ckpt, and its config folder."""
    root = tmp_path_factory.mktemp("single")
    folder = builtin_folder("tiny", model_cache)
    file = write_ldm_checkpoint(folder, root / "tiny.safetensors")
    from safetensors.torch import load_file

    ckpt = root / "tiny.ckpt"
    torch.save({"state_dict": load_file(str(file))}, ckpt)
    return file, ckpt, config_folder_of(folder, root / "tiny-config")


@pytest.fixture(scope="module")
def tiny_xl_files(tiny_sdxl, tmp_path_factory):
    """The tiny SDXL folder as one LDM .safetensors, and its config folder."""
    root = tmp_path_factory.mktemp("single-xl")
    file = write_ldm_checkpoint(tiny_sdxl, root / "tiny-xl.safetensors")
    return file, config_folder_of(tiny_sdxl, root / "tiny-xl-config")


@pytest.fixture
def tiny_configs(monkeypatch, tiny_files, tiny_xl_files):
    """The studio finds the tiny models' architectures where it looks for SD 1.x's and
    SDXL's configs."""
    folders = {"sd1": tiny_files[2], "sdxl": tiny_xl_files[1]}
    monkeypatch.setattr(
        single_file, "config_folder", lambda config, cache, channels=4: folders[config]
    )


def spec(model: str, **diffusion) -> AnimationSpec:
    return AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle\n2: a blue square"),
        diffusion=DiffusionSettings(model=model, steps=2, width=64, height=64, seed=3, **diffusion),
        animation=AnimationSettings(fps=8, batch_size=1),
        output=OutputSettings(format="png"),
    )


def frames(result) -> list[np.ndarray]:
    return list(read_frames(result.outputs[0].path))


def test_a_single_file_renders_the_frames_of_its_diffusers_folder(
    tiny_files, tiny_configs, tmp_path, manager, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    file, ckpt, _ = tiny_files
    folder = frames(render_animation(spec("builtin:tiny"), tmp_path / "folder", manager=manager))
    single = frames(render_animation(spec(str(file)), tmp_path / "file", manager=manager))
    pickled = frames(render_animation(spec(str(ckpt)), tmp_path / "ckpt", manager=manager))
    assert len(folder) == len(single) == len(pickled) == 3
    for a, b, c in zip(folder, single, pickled, strict=True):
        assert np.array_equal(a, b) and np.array_equal(a, c)


def test_an_sdxl_single_file_renders_the_frames_of_its_diffusers_folder(
    tiny_sdxl, tiny_xl_files, tiny_configs, tmp_path, manager
):
    file = str(tiny_xl_files[0])
    loaded = ModelManager(cache_dir=tmp_path).load(file)
    assert type(loaded.pipe).__name__ == "StableDiffusionXLPipeline"
    folder = frames(render_animation(spec(str(tiny_sdxl)), tmp_path / "a", manager=manager))
    single = frames(render_animation(spec(file), tmp_path / "b", manager=manager))
    assert len(folder) == len(single) == 3
    assert all(np.array_equal(a, b) for a, b in zip(folder, single, strict=True))


def test_a_single_file_loads_as_stable_diffusion_from_the_cache_offline(
    tiny_files, tiny_configs, tmp_path
):
    loaded = ModelManager(cache_dir=tmp_path).load(str(tiny_files[0]))
    assert type(loaded.pipe).__name__ == "StableDiffusionPipeline"
    assert loaded.source == str(tiny_files[0])


def test_a_single_file_that_is_no_drawing_model_is_refused(tiny_files, tiny_configs, tmp_path):
    from studio.pipeline.models import LoadOptions

    options = LoadOptions(pipeline="StableDiffusionUpscalePipeline")
    with pytest.raises(ModelLoadError, match="loads only as a model that draws frames"):
        ModelManager(cache_dir=tmp_path).load(str(tiny_files[0]), options)


@pytest.mark.parametrize("config", sorted(PARAMETERS))
def test_each_shipped_config_folder_builds_its_components(config, tmp_path):
    import diffusers
    import transformers

    folder = single_file.config_folder(config, tmp_path)
    index = json.loads((folder / "model_index.json").read_text())
    getattr(diffusers, index["_class_name"]).load_config(folder)
    built = {}
    for name, (library, cls_name) in ((k, v) for k, v in index.items() if _component(v)):
        cls = getattr(diffusers if library == "diffusers" else transformers, cls_name)
        if cls_name == "CLIPTokenizer":
            tokenizer = cls.from_pretrained(folder, subfolder=name, local_files_only=True)
            assert tokenizer("a photo of a cat").input_ids == CAT and len(tokenizer) == 49408
            # SD 2.x's OpenCLIP and SDXL's second encoder pad with "!" (id 0).
            expected_pad = 0 if config.startswith("sd2") or name == "tokenizer_2" else 49407
            assert tokenizer.pad_token_id == expected_pad
        elif cls_name.endswith("Scheduler"):
            scheduler = cls.from_pretrained(folder, subfolder=name)
            v = config == "sd2-v"
            assert scheduler.config.prediction_type == ("v_prediction" if v else "epsilon")
        else:
            with torch.device("meta"):
                if library == "diffusers":
                    model = cls.from_config(cls.load_config(folder, subfolder=name))
                else:
                    model = cls(cls.config_class.from_pretrained(folder, subfolder=name))
            built[name] = sum(p.numel() for p in model.parameters())
    assert built == PARAMETERS[config]


def test_an_inpainting_file_gets_a_unet_config_of_nine_channels(tmp_path):
    folder = single_file.config_folder("sd1", tmp_path, in_channels=9)
    assert json.loads((folder / "unet" / "config.json").read_text())["in_channels"] == 9
    plain = single_file.config_folder("sd1", tmp_path)
    assert json.loads((plain / "unet" / "config.json").read_text())["in_channels"] == 4


def _component(value) -> bool:
    return isinstance(value, list) and value[0] is not None


def test_a_file_unlike_its_familys_published_architecture_fails_in_one_line(tiny_files, tmp_path):
    # No stand-in configs here: the shipped SD 1.5 folder is written into the cache and used.
    with pytest.raises(ModelLoadError) as info:
        ModelManager(cache_dir=tmp_path).load(str(tiny_files[0]))
    message = str(info.value)
    assert "as a Stable Diffusion 1.x checkpoint" in message and "\n" not in message
    written = tmp_path / "single-file-configs" / f"sd1-v{single_file.CONFIG_VERSION}"
    assert (written / "tokenizer" / "vocab.json").is_file()
