"""LoRA adapters on builtin:tiny: weights per frame, several at once, the shared pipeline kept."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from studio.animation.render import render_animation
from studio.blend.render import render_blend
from studio.errors import CurveError, ModelLoadError, RenderCancelled, SpecError
from studio.events import CancelToken
from studio.media.readers import read_frames
from studio.pipeline.lora import PipelineLock, check_lora_sources, pipeline_lock
from studio.spec import (
    AnimationSettings,
    AnimationSpec,
    BlendKeyframe,
    BlendPromptSettings,
    BlendSettings,
    BlendSpec,
    DiffusionSettings,
    OutputSettings,
    PromptSettings,
)
from studio.spec.blend import BlendOutputSettings
from studio.spec.lora import AnimationLoras, BlendLoras, LoraCurve, LoraNumber
from tests.support.lora import make_tiny_lora

SCHEDULE = "0: a red circle\n1: a blue square"


@pytest.fixture(scope="module")
def lora_files(tmp_path_factory, manager):
    folder = tmp_path_factory.mktemp("loras")
    return (
        make_tiny_lora(manager, folder / "one.safetensors", seed=1),
        make_tiny_lora(manager, folder / "two.safetensors", seed=2),
    )


def anim(*loras: tuple[object, str], batch: int = 1) -> AnimationSpec:
    return AnimationSpec(
        prompts=PromptSettings(schedule=SCHEDULE),
        diffusion=DiffusionSettings(
            model="builtin:tiny", steps=2, guidance=1.0, width=64, height=64, seed=3
        ),
        animation=AnimationSettings(fps=8, batch_size=batch),
        output=OutputSettings(format="png"),
        loras=AnimationLoras(adapters=tuple(LoraCurve(source=str(s), weight=w) for s, w in loras)),
    )


@pytest.fixture(scope="module")
def made(tmp_path_factory, manager, lora_files):
    """The frames of the renders several tests compare with: plain, and the first LoRA at 1."""
    out = tmp_path_factory.mktemp("made")
    return {
        "plain": frames(anim(), out / "plain", manager),
        "full": frames(anim((lora_files[0], "1")), out / "full", manager),
    }


def frames(spec, out, manager) -> list[np.ndarray]:
    return list(read_frames(render_animation(spec, out, manager=manager).outputs[0].path))


def unet_state(manager) -> dict[str, torch.Tensor]:
    unet = manager.load("builtin:tiny").pipe.unet
    return {k: v.clone() for k, v in unet.state_dict().items()}


def lock_is_free(manager) -> bool:
    """Whether a LoRA render could take builtin:tiny's pipeline now (no render holds it)."""
    lock = pipeline_lock(manager.load("builtin:tiny").pipe)
    taken = threading.Event()

    def take():
        with lock.exclusive():
            taken.set()

    threading.Thread(target=take, daemon=True).start()
    return taken.wait(5)


def same(a, b) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_weights_per_frame_and_the_shared_pipeline_kept(tmp_path, manager, lora_files, made):
    one, _ = lora_files
    before_state = unet_state(manager)
    plain, full = made["plain"], made["full"]
    zero = frames(anim((one, "0")), tmp_path / "zero", manager)
    # A fade from 0 to 1 over the 2 frames, batched: each frame is its own UNet group.
    fade = frames(anim((one, "0: (0), 1: (1)"), batch=2), tmp_path / "fade", manager)
    after = frames(anim(), tmp_path / "after", manager)

    assert all(not np.array_equal(x, y) for x, y in zip(plain, full, strict=True))
    assert same(zero, plain), "weight 0 must be the model without the LoRA"
    assert np.array_equal(fade[0], plain[0])
    assert (
        np.array_equal(fade[-1], full[-1])
        or np.abs(fade[-1].astype(int) - full[-1].astype(int)).max() <= 2
    )  # batched vs. one at a time
    assert not np.array_equal(fade[-1], plain[-1])
    assert same(after, plain), "a plain render after a LoRA render must not change"
    state = manager.load("builtin:tiny").pipe.unet.state_dict()
    assert state.keys() == before_state.keys()
    assert all(torch.equal(state[k], before_state[k]) for k in state)
    assert manager.load("builtin:tiny").pipe.get_list_adapters() == {}


def test_two_adapters_at_once(tmp_path, manager, lora_files, made):
    one, two = lora_files
    only_one = made["full"]
    both = frames(anim((one, "1"), (two, "0.7")), tmp_path / "b", manager)
    two_off = frames(anim((one, "1"), (two, "0")), tmp_path / "c", manager)
    assert not np.array_equal(both[0], only_one[0])
    assert same(two_off, only_one)


@pytest.mark.slow
def test_a_blend_with_a_lora(tmp_path, manager, lora_files):
    def blend(*loras):
        spec = BlendSpec(
            prompts=BlendPromptSettings(
                keyframes=(BlendKeyframe("a red circle"), BlendKeyframe("a blue square"))
            ),
            diffusion=DiffusionSettings(model="builtin:tiny", steps=3, width=64, height=64),
            blend=BlendSettings(setup="auto", diffusion_frames=3),
            output=BlendOutputSettings(format="png"),
            loras=BlendLoras(adapters=tuple(LoraNumber(source=str(s), weight=w) for s, w in loras)),
        )
        out = tmp_path / f"b{len(list(tmp_path.iterdir()))}"
        return list(read_frames(render_blend(spec, out, manager=manager).outputs[0].path))

    plain = blend()
    styled = blend((lora_files[0], 0.8))
    assert not np.array_equal(plain[0], styled[0])
    assert manager.load("builtin:tiny").pipe.get_list_adapters() == {}


def test_a_plain_render_beside_a_lora_render_is_unchanged(tmp_path, manager, lora_files, made):
    """Two threads on the one cached pipeline: the lock keeps the LoRA out of the plain one."""
    plain = made["plain"]
    got: dict[str, list[np.ndarray]] = {}

    def run(name, spec):
        got[name] = frames(spec, tmp_path / name, manager)

    threads = [
        threading.Thread(target=run, args=("lora", anim((lora_files[0], "1")))),
        threading.Thread(target=run, args=("beside", anim())),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert same(got["beside"], plain)
    assert not np.array_equal(got["lora"][0], plain[0])


def test_a_file_that_is_no_lora_of_this_model_leaves_the_pipeline(tmp_path, manager):
    from safetensors.torch import save_file

    bad = tmp_path / "bad.safetensors"
    save_file({"unet.nothing.lora_A.weight": torch.zeros(2, 2)}, str(bad))
    with pytest.raises((ModelLoadError, SpecError)):
        frames(anim((bad, "1")), tmp_path / "bad", manager)
    assert manager.load("builtin:tiny").pipe.get_list_adapters() == {}
    # and the lock was let go: a plain render goes on
    assert lock_is_free(manager)


def test_a_cancelled_lora_render_hands_the_pipeline_back(tmp_path, manager, lora_files, made):
    token = CancelToken()
    token.cancel()
    with pytest.raises(RenderCancelled):
        render_animation(anim((lora_files[0], "1")), tmp_path / "c", manager=manager, cancel=token)
    assert manager.load("builtin:tiny").pipe.get_list_adapters() == {}
    assert lock_is_free(manager)


def test_sources_are_found_or_named(tmp_path, lora_files):
    folder = tmp_path / "style"
    folder.mkdir()
    (folder / "style.safetensors").write_bytes(lora_files[0].read_bytes())

    def entries(*sources):
        return [LoraCurve(source=str(s)) for s in sources]

    assert check_lora_sources(entries(lora_files[0], folder)) == [
        lora_files[0],
        folder / "style.safetensors",
    ]
    with pytest.raises(SpecError, match=r"^LoRA 2: file .*missing.safetensors does not exist$"):
        check_lora_sources(entries(folder, tmp_path / "missing.safetensors"))
    with pytest.raises(SpecError, match="nor in the local Hugging Face cache"):
        check_lora_sources(entries("someone/no-such-lora"))
    (folder / "other.safetensors").write_bytes(b"")
    with pytest.raises(SpecError, match="2 .safetensors files"):
        check_lora_sources(entries(folder))


def test_text_encoder_layers_refuse_a_changing_weight(tmp_path, manager):
    """Prompts are encoded once: a LoRA on the text encoder too needs a constant weight,
    refused before the model is touched (the file's header says)."""
    both = make_tiny_lora(manager, tmp_path / "both.safetensors", seed=3, text_encoder=True)
    with pytest.raises(SpecError, match=r"^LoRA 1 \(.*both.safetensors\) has text-encoder layers"):
        check_lora_sources([LoraCurve(source=str(both), weight="0: (0), 2: (1)")])
    with pytest.raises(SpecError, match="has text-encoder layers"):
        check_lora_sources([LoraCurve(source=str(both), weight="0.5 + 0*t")])
    assert check_lora_sources([LoraCurve(source=str(both), weight="0: (0.5), 9: (0.5)")])
    assert check_lora_sources(
        [LoraCurve(source=str(lora_unet_only(tmp_path, manager)), weight="t")]
    )


def lora_unet_only(tmp_path, manager):
    return make_tiny_lora(manager, tmp_path / "unet.safetensors", seed=4)


@pytest.mark.slow
def test_text_encoder_layers_at_a_constant_weight_change_the_frames(tmp_path, manager, made):
    both = make_tiny_lora(manager, tmp_path / "both.safetensors", seed=3, text_encoder=True)
    styled = frames(anim((both, "0.5")), tmp_path / "both", manager)
    assert not np.array_equal(styled[0], made["plain"][0])
    assert manager.load("builtin:tiny").pipe.get_list_adapters() == {}
    assert same(frames(anim(), tmp_path / "plain", manager), made["plain"])


def test_a_bad_curve_names_the_lora_and_position():
    with pytest.raises(CurveError, match=r"line 1, column 5: LoRA 2 \(b.safetensors\) weight"):
        anim(("a.safetensors", "1"), ("b.safetensors", "0: (nope)")).check()


def test_the_lock_lets_readers_share_and_a_writer_wait():
    lock = PipelineLock()
    order = []
    with lock.shared(), lock.shared():  # two readers at once
        writer = threading.Thread(target=lambda: order.append(lock.exclusive().__enter__()))
        writer.start()
        writer.join(0.2)
        assert writer.is_alive(), "a writer must wait for readers"
    writer.join(2)
    assert not writer.is_alive()


def test_a_hub_id_is_used_from_the_local_cache(tmp_path, monkeypatch, lora_files):
    """A Hub id whose snapshot is in the Hugging Face cache is found without the network."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    snapshot = cache / "models--someone--ink-style" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "pytorch_lora_weights.safetensors").write_bytes(lora_files[0].read_bytes())
    (cache / "models--someone--ink-style" / "refs").mkdir()
    (cache / "models--someone--ink-style" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    (found,) = check_lora_sources([LoraCurve(source="someone/ink-style", weight="0.5")])
    assert found == snapshot / "pytorch_lora_weights.safetensors"
