"""``memory: auto`` picks savers from device facts (studio.pipeline.memory.choose_memory)."""

from __future__ import annotations

from studio.pipeline.memory import DeviceFacts, MemoryChoice, choose_memory

GIB = 1024**3


def test_the_cpu_gets_nothing_for_one_frame_however_large():
    choice = choose_memory(DeviceFacts("cpu"), width=2048, height=2048, batch=1)
    assert (
        choice.attention_slicing,
        choice.vae_slicing,
        choice.vae_tiling,
        choice.cpu_offload,
    ) == (
        False,
        False,
        False,
        False,
    )
    assert choice.reasons == ("cpu: no memory savers needed",)
    assert not choose_memory(DeviceFacts("mps"), width=2048, height=2048).vae_tiling


def test_a_large_batch_of_large_frames_is_decoded_frame_by_frame_on_any_device():
    # 4 frames of 512x512 in float32: 2.5 GiB together, under 4 GiB; of 768x768: 5.6 GiB.
    assert not choose_memory(DeviceFacts("cpu"), width=512, height=512, batch=4).vae_slicing
    large = choose_memory(DeviceFacts("cpu"), width=768, height=768, batch=4)
    assert large == MemoryChoice(
        vae_slicing=True,
        reasons=("VAE slicing: decoding 4 frames of 768x768 together needs more than 4.0 GiB",),
    )
    assert not choose_memory(DeviceFacts("cpu"), width=768, height=768, batch=1).vae_slicing
    # A GPU decodes together up to a quarter of its free memory (float16: half the bytes).
    roomy = DeviceFacts("cuda", free_bytes=70 * GIB, total_bytes=80 * GIB)
    assert not choose_memory(roomy, width=1024, height=1024, batch=4, weights_bytes=GIB).vae_slicing
    assert choose_memory(roomy, width=1024, height=1024, batch=16, weights_bytes=GIB).vae_slicing


def test_a_roomy_gpu_gets_nothing_at_512_px():
    facts = DeviceFacts("cuda", free_bytes=70 * GIB, total_bytes=80 * GIB)
    choice = choose_memory(facts, width=512, height=512, weights_bytes=2 * GIB)
    assert choice == MemoryChoice(reasons=("cuda: 70.0 GiB free is enough",))


def test_frames_above_1024x1024_get_vae_tiling_on_cuda():
    facts = DeviceFacts("cuda", free_bytes=70 * GIB, total_bytes=80 * GIB)
    assert not choose_memory(facts, width=1024, height=1024, weights_bytes=GIB).vae_tiling
    big = choose_memory(facts, width=1024, height=1032, weights_bytes=GIB)
    assert big.vae_tiling and not big.attention_slicing and "above 1024x1024" in big.reasons[0]


def test_short_memory_slices_attention_first_then_offloads():
    # 768x768, batch 2: about 2.6 GiB of attention maps on 2 GiB of weights.
    sliced = choose_memory(
        DeviceFacts("cuda", free_bytes=4 * GIB),
        width=768,
        height=768,
        batch=2,
        weights_bytes=2 * GIB,
    )
    assert sliced.attention_slicing and not sliced.cpu_offload
    assert sliced.reasons[0].startswith("attention slicing: 4.0 GiB free")
    offloaded = choose_memory(
        DeviceFacts("cuda", free_bytes=2 * GIB),
        width=768,
        height=768,
        batch=2,
        weights_bytes=2 * GIB,
    )
    assert offloaded.attention_slicing and offloaded.cpu_offload and offloaded.vae_slicing
    assert "CPU offload" in offloaded.reasons[1]


def test_an_unknown_model_size_is_assumed_to_be_sd1_in_half_precision():
    facts = DeviceFacts("cuda", free_bytes=2 * GIB)
    assert choose_memory(facts, width=512, height=512).attention_slicing
    assert not choose_memory(facts, width=512, height=512, weights_bytes=GIB // 4).attention_slicing


def test_unknown_free_memory_decides_only_by_frame_size():
    facts = DeviceFacts("cuda")
    assert choose_memory(facts, width=2048, height=2048) == MemoryChoice(
        vae_tiling=True, reasons=("VAE tiling: 2048x2048 is above 1024x1024",)
    )
