"""``--lora`` on the command line: bad LoRAs are one line, exit 2, before a run is recorded."""

from __future__ import annotations

import json

import pytest

from studio.app.cli.lora import split_lora

ANIMATE = ["animate", "--prompts", "0: a red circle\n2: a blue square", "--model", "builtin:tiny"]
BLEND = ["blend", "a red circle", "a blue square", "--model", "builtin:tiny"]


def no_runs(cli, home) -> bool:
    listed = cli(home, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout) == []


@pytest.mark.parametrize(
    ("command", "lora", "message"),
    [
        (
            ANIMATE,
            "{tmp}/missing.safetensors:0.5",
            "LoRA 1: file {tmp}/missing.safetensors does not exist",
        ),
        (
            BLEND,
            "{tmp}/missing.safetensors",
            "LoRA 1: file {tmp}/missing.safetensors does not exist",
        ),
        (
            ANIMATE,
            "{tmp}/a.safetensors:0: (oops)",
            "LoRA 1 ({tmp}/a.safetensors) weight: unknown name 'oops'",
        ),
        (BLEND, "{tmp}/a.safetensors:0: (0), 9: (1)", "a blend's LoRA weight is one number"),
    ],
    ids=["animate-missing", "blend-missing", "animate-bad-curve", "blend-curve"],
)
def test_a_bad_lora_is_one_line_exit_2_and_no_run(cli, tmp_path, command, lora, message):
    home = tmp_path / "home"
    proc = cli(home, *command, "--lora", lora.format(tmp=tmp_path), "--quiet")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert message.format(tmp=tmp_path) in lines[0]
    assert no_runs(cli, home)


def test_the_split_of_source_and_weight(tmp_path):
    existing = tmp_path / "odd:name.safetensors"
    existing.write_bytes(b"")
    assert split_lora("style.safetensors") == ("style.safetensors", "1")
    assert split_lora("style.safetensors:0.8") == ("style.safetensors", "0.8")
    assert split_lora("loras/ink:0: (0), 24: (1)") == ("loras/ink", "0: (0), 24: (1)")
    assert split_lora("org/name:0.5") == ("org/name", "0.5")
    assert split_lora(r"C:\loras\x.safetensors:0: (1)") == (r"C:\loras\x.safetensors", "0: (1)")
    assert split_lora(str(existing)) == (str(existing), "1")


@pytest.mark.slow
def test_a_lora_render_is_recorded_with_its_weights(cli, tmp_path, manager):
    from tests.support.lora import make_tiny_lora

    lora = make_tiny_lora(manager, tmp_path / "style.safetensors")
    home = tmp_path / "home"
    args = [*ANIMATE, "--steps", "2", "--width", "64", "--height", "64", "--json", "--quiet"]
    proc = cli(home, *args, "--lora", f"{lora}:0: (0), 2: (1)")
    assert proc.returncode == 0, proc.stderr
    run_id = json.loads(proc.stdout)["run_id"]
    shown = cli(home, "runs", "show", run_id, "--json")
    spec = json.loads(shown.stdout)["spec"]
    assert spec["loras"] == {"adapters": [{"source": str(lora), "weight": "0: (0), 2: (1)"}]}
