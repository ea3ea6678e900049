"""The command line, run as a user runs it: a subprocess with its own STUDIO_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from studio.errors import SpecError
from studio.media.readers import read_frames
from tests.support.run_cli import studio, studio_in_process

ROOT = Path(__file__).resolve().parents[2]
SCHEDULE = "0: a red circle\n12: a blue square\n24: a green triangle"


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """The issue's own example, run twice into one STUDIO_HOME (in this process: other tests
    run the command line as a subprocess)."""
    base = tmp_path_factory.mktemp("cli")
    home = base / "home"
    results = []
    for name in ("a.mp4", "b.mp4"):
        proc = studio_in_process(
            home,
            "animate",
            "--prompts",
            SCHEDULE,
            "--width",
            "64",
            "--height",
            "64",
            "--steps",
            "4",
            "--seed",
            "7",
            "--json",
            "--out",
            str(base / name),
            "--quiet",
        )
        assert proc.returncode == 0, proc.stderr
        results.append(json.loads(proc.stdout))
    return home, base, results


def test_animate_prints_one_json_object_and_writes_25_frames(two_runs):
    home, base, (first, _) = two_runs
    for key in ("run_id", "outputs", "frames", "fps", "seconds", "denoise_steps"):
        assert key in first
    assert first["frames"] == 25 and first["denoise_steps"] == 100
    assert first["outputs"] == [str(base / "a.mp4")]
    assert len(list(read_frames(base / "a.mp4"))) == 25
    score = first["smoothness"]  # how evenly it moves (issue 29, item 6)
    assert score["frames"] == 25 and len(score["distances"]) == 24
    assert score["max_jump"] == max(score["distances"]) > 0
    stored = Path(first["stored_outputs"][0])
    assert stored.is_relative_to(home) and stored.exists()


def test_running_twice_gives_identical_frames(two_runs):
    _, base, results = two_runs
    a, b = list(read_frames(base / "a.mp4")), list(read_frames(base / "b.mp4"))
    assert len(a) == len(b) == 25
    assert results[0]["smoothness"] == results[1]["smoothness"]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_runs_are_recorded_and_readable(two_runs):
    home, _, results = two_runs
    listed = json.loads(studio(home, "runs", "list", "--json").stdout)
    assert {r["id"] for r in listed} == {r["run_id"] for r in results}
    assert all(r["status"] == "done" for r in listed)
    shown = studio(home, "runs", "show", results[0]["run_id"], "--json")
    run = json.loads(shown.stdout)
    assert run["spec"]["prompts"]["schedule"] == SCHEDULE
    assert run["denoise_steps"] == 100 and run["seed"] == 7
    assert run["versions"]["torch"].startswith("2.13")
    assert len(run["outputs"]) == 1 and len(run["outputs"][0]["sha256"]) == 64
    assert run["extra"]["smoothness"] == results[0]["smoothness"]


def test_malformed_schedule_exits_with_one_line_naming_the_line(tmp_path):
    proc = studio(tmp_path / "home", "animate", "--prompts", "0: a red circle\nten: a blue square")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "line 2" in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["animate", "--prompts", "0: x", "--steps", "0"], "steps must be between"),
        (
            ["animate", "--prompts", "0: x", "--width", "100"],
            "width must be a positive multiple of 8",
        ),
        (["animate", "--prompts", "0: x", "--model", "builtin:nope"], "unknown built-in model"),
        (["animate", "--prompts-file", "missing.txt"], "does not exist"),
        (["animate", "--prompts", "0: x", "--steps", "many"], "invalid int value"),
        (["runs", "show", "no-such-run"], "no-such-run"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(cli, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    proc = cli(tmp_path / "home", *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["animate", "blend"])
def test_size_and_guidance_default_to_the_models_own_unless_given(tmp_path, command):
    from studio.app.cli import blend_spec_from_args, build_parser, spec_from_args
    from studio.pipeline.builtin import BUILTIN_MODELS

    make = spec_from_args if command == "animate" else blend_spec_from_args
    prompts = ["--prompts", "0: a red circle"] if command == "animate" else ["a", "b"]
    parser = build_parser()

    def diffusion(*flags, spec=None):
        extra = ["--spec", str(spec)] if spec else prompts
        return make(parser.parse_args([command, *extra, *flags])).diffusion

    shapes, tiny = BUILTIN_MODELS["shapes"], BUILTIN_MODELS["tiny"]
    assert shapes.guidance != tiny.guidance  # or this test could not tell them apart
    d = diffusion()
    assert (d.model, d.width, d.guidance) == ("builtin:shapes", 128, shapes.guidance)
    d = diffusion("--model", "builtin:tiny")
    assert (d.width, d.height, d.guidance) == (64, 64, tiny.guidance)
    d = diffusion("--model", "some/hub-model")
    assert (d.width, d.guidance) == (512, 7.5)
    d = diffusion("--model", "builtin:tiny", "--guidance", "0", "--width", "96")
    assert (d.width, d.height, d.guidance) == (96, 64, 0.0)
    # The guidance stop likewise: the shapes model's own, none for others unless given.
    assert shapes.guidance_stop > 0 == tiny.guidance_stop
    assert diffusion().guidance_stop == shapes.guidance_stop
    assert diffusion("--model", "some/hub-model").guidance_stop == 0.0
    assert diffusion("--model", "builtin:tiny", "--guidance-stop", "0.3").guidance_stop == 0.3
    # A spec file's own values stand when no flag or new model overrides them.
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(make(parser.parse_args([command, *prompts, "--guidance", "6"])).to_json())
    assert diffusion(spec=spec_file).guidance == 6.0


def test_a_failed_render_is_recorded_as_failed(cli, tmp_path):
    home = tmp_path / "home"
    proc = cli(
        home,
        "animate",
        "--prompts",
        "0: x",
        "--model",
        "builtin:nope",
        "--width",
        "64",
        "--height",
        "64",
    )
    assert proc.returncode == 2
    runs = json.loads(cli(home, "runs", "list", "--json").stdout)
    assert len(runs) == 1 and runs[0]["status"] == "failed"
    assert "builtin:nope" in runs[0]["error"]


@pytest.mark.slow  # whole renders through CLI subprocesses (6-12 s)
def test_a_killed_render_is_marked_interrupted_at_the_next_start(tmp_path):
    import signal
    import time

    from db import Store, list_runs

    home = tmp_path / "home"
    env = {**os.environ, "STUDIO_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "studio",
            "animate",
            "--prompts",
            "0: a red circle\n400: a blue square",
            "--width",
            "64",
            "--height",
            "64",
            "--steps",
            "4",
            "--quiet",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (home / "studio.db").exists():
                with Store.open(home).session() as s:
                    runs = list_runs(s)
                if runs and runs[0].status == "running" and runs[0].frames_done > 0:
                    break
            time.sleep(0.3)
        else:
            pytest.fail("the render never started")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    listed = json.loads(studio(home, "runs", "list", "--json").stdout)
    assert listed[0]["status"] == "interrupted"
    assert "stopped" in listed[0]["error"]
    assert 0 < listed[0]["frames_done"] < 401


@pytest.mark.parametrize(
    ("command", "name"),
    [("animate", "x.avi"), ("animate", "frame.png"), ("blend", "x.webm")],
)
def test_an_out_path_we_do_not_write_is_refused_before_any_run(tmp_path, command, name):
    home = tmp_path / "home"
    prompts = ["--prompts", "0: a red circle"] if command == "animate" else ["a", "b"]
    out = tmp_path / name
    proc = studio(home, command, *prompts, "--model", "builtin:tiny", "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert str(out) in line and ".mp4" in line and ".gif" in line and "folder" in line
    assert not out.exists()
    assert json.loads(studio(home, "runs", "list", "--json").stdout) == []


def test_the_out_path_names_the_format(tmp_path):
    from studio.app.cli import build_parser, spec_from_args

    parser = build_parser()

    def fmt(out: Path, *flags: str) -> str:
        args = parser.parse_args(["animate", "--prompts", "0: x", "--out", str(out), *flags])
        return spec_from_args(args).output.format

    (tmp_path / "made.d").mkdir()
    assert fmt(tmp_path / "a.mp4") == "mp4"
    assert fmt(tmp_path / "A.GIF") == "gif"
    assert fmt(tmp_path / "frames") == "png"
    assert fmt(tmp_path / "made.d", "--format", "png") == "png"  # an existing folder
    with pytest.raises(SpecError, match="does not match"):
        fmt(tmp_path / "a.gif", "--format", "mp4")


def test_a_closed_stdout_ends_the_command_quietly(tmp_path):
    """``studio sessions show default | head -1``: the reader goes away mid-output."""
    from db import RunRecorder, Store

    home = tmp_path / "home"
    store = Store.open(home)
    # Far more than a pipe holds, so the command is still writing when the reader leaves.
    RunRecorder.create(
        store,
        session_slug="default",
        kind="animation",
        spec={"prompts": {"schedule": "0: a red circle\n" * 20_000}},
        schema_version=1,
        model_ref="builtin:tiny",
        seed=1,
    )
    store.close()
    env = {**os.environ, "STUDIO_HOME": str(home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "studio", "sessions", "show", "default"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    try:
        first = proc.stdout.readline()
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert first == b"{\n"
    assert stderr == "", stderr
    assert code == 141  # 128 + SIGPIPE, what a shell reports for a writer whose reader left


def test_curve_flags_take_a_bare_number(cli, tmp_path):
    """``--strength 0.5`` is ``--strength '0: (0.5)'``: the flags build the same curves (kept
    as typed), and the command renders with them."""
    from studio.app.cli import build_parser, spec_from_args
    from studio.languages.curves import parse_curve

    common = ["animate", "--model", "builtin:tiny", "--prompts", "0: a red circle\n3: a star"]
    common += ["--width", "64", "--height", "64", "--steps", "2", "--quiet", "--json"]
    bare = ["--zoom", "1.05", "--strength", "0.5", "--noise", "0.01"]
    keyed = ["--zoom", "0: (1.05)", "--strength", "0: (0.5)", "--noise", "0: (0.01)"]
    specs = [spec_from_args(build_parser().parse_args(common + flags)) for flags in (bare, keyed)]
    for name in ("zoom", "strength", "noise"):
        a, b = (parse_curve(getattr(s.motion, name)).values(4) for s in specs)
        assert np.array_equal(a, b) and len(set(a)) == 1, (name, a, b)
    assert specs[0].motion.strength == "0.5"  # kept as typed

    out = tmp_path / "bare.mp4"
    proc = cli(tmp_path / "home", *common, *bare, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["frames"] == 4 and len(list(read_frames(out))) == 4


def test_a_bad_bare_curve_flag_names_the_curve_and_column(tmp_path):
    proc = studio(tmp_path / "home", "animate", "--prompts", "0: x", "--zoom", "1 +")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "error: curve line 1, column 4: zoom: expected a number, a name or '(', "
        "got the end of the value"
    )


def test_the_api_refuses_an_out_that_does_not_fit_before_recording(tmp_path):
    import studio
    from studio.spec import AnimationSpec, DiffusionSettings, PromptSettings

    spec = AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle"),
        diffusion=DiffusionSettings(model="builtin:tiny", width=64, height=64),
    )
    for out, words in ((tmp_path / "x.gif", "does not fit mp4"), (tmp_path / "x.avi", ".avi")):
        with pytest.raises(SpecError, match=words):
            studio.render(spec, home=tmp_path / "home", out=out)
    assert not (tmp_path / "home" / "studio.db").exists()
