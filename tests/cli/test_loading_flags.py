"""The loading flags on the command line: scheduler options checked before a run is
recorded, variant, revision and memory options into the spec, and the custom pipeline's
opt-in and warning."""

from __future__ import annotations

import json

import pytest

from studio.app.cli.parser import build_parser

TINY = ["--model", "builtin:tiny", "--steps", "1", "--width", "64", "--height", "64"]
CUSTOM = """
from diffusers import StableDiffusionPipeline


class MarkedPipeline(StableDiffusionPipeline):
    pass
"""


def _runs(cli, home):
    listed = cli(home, "runs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def test_flags_reach_the_diffusion_group():
    from studio.app.cli import spec_from_args

    args = build_parser().parse_args(
        ["animate", "--prompts", "0: a", "--variant", "fp16", "--revision", "v1.0"]
        + ["--memory", "auto", "--vae-tiling", "--attention-slicing"]
        + ["--scheduler", "dpm++", "--scheduler-option", "use_karras_sigmas=true"]
        + ["--scheduler-option", "solver_order=3"]
    )
    d = spec_from_args(args).diffusion
    assert (d.variant, d.revision, d.memory) == ("fp16", "v1.0", "auto")
    assert d.vae_tiling and d.attention_slicing and not d.cpu_offload
    assert d.scheduler_kwargs == {"use_karras_sigmas": True, "solver_order": 3}


def test_an_unknown_scheduler_option_is_refused_before_a_run_exists(cli, tmp_path):
    home = tmp_path / "home"
    proc = cli(
        home,
        "animate",
        "--prompts",
        "0: a red circle",
        *TINY,
        "--scheduler",
        "dpm++",
        "--scheduler-option",
        "use_karras_sigma=true",
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "'use_karras_sigma'" in lines[0] and "use_karras_sigmas" in lines[0]
    assert _runs(cli, home) == []


def test_a_spec_file_with_a_custom_pipeline_is_refused_unless_asked_for_here(cli, tmp_path):
    home = tmp_path / "home"
    (tmp_path / "pipeline.py").write_text(CUSTOM)
    source = str(tmp_path / "pipeline.py")
    from studio.app.cli import spec_from_args

    args = build_parser().parse_args(["animate", "--prompts", "0: a red circle", *TINY])
    spec = spec_from_args(args).to_dict()  # as a pulled session's run holds it
    spec["diffusion"]["custom_pipeline"] = source
    path = tmp_path / "pulled.json"
    path.write_text(json.dumps(spec))

    refused = cli(home, "animate", "--spec", str(path))
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "custom pipeline" in lines[0]
    assert "--allow-custom-pipeline" in lines[0] and source in lines[0]
    assert _runs(cli, home) == []  # nothing recorded

    allowed = cli(home, "animate", "--spec", str(path), "--allow-custom-pipeline", "--quiet")
    assert allowed.returncode == 0, allowed.stderr
    assert f"warning: custom pipeline '{source}'" in allowed.stderr
    assert "runs the Python code" in allowed.stderr
    assert len(_runs(cli, home)) == 1


def test_a_custom_pipeline_given_here_runs_with_the_warning_on_stderr(cli, tmp_path):
    home = tmp_path / "home"
    (tmp_path / "pipeline.py").write_text(CUSTOM)
    proc = cli(
        home,
        "animate",
        "--prompts",
        "0: a red circle",
        *TINY,
        "--quiet",
        "--custom-pipeline",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    assert f"warning: custom pipeline '{tmp_path}'" in proc.stderr


def test_resuming_a_run_with_a_custom_pipeline_needs_the_opt_in(cli, tmp_path, manager):
    import studio as api
    from studio.spec import AnimationSpec

    home = tmp_path / "home"
    (tmp_path / "pipeline.py").write_text(CUSTOM)
    diffusion = {"model": "builtin:tiny", "steps": 1, "width": 64, "height": 64}
    spec = AnimationSpec(
        prompts={"schedule": "0: a red circle"},
        diffusion={**diffusion, "custom_pipeline": str(tmp_path)},
    )
    with pytest.warns(UserWarning, match="runs the Python code"):
        run_id, _ = api.render(spec, home=home, manager=manager)
    # Refused for the custom pipeline before anything else is looked at...
    refused = cli(home, "runs", "resume", run_id)
    assert refused.returncode == 2 and "--allow-custom-pipeline" in refused.stderr
    # ...and with the opt-in, the warning, then resume's own check (the run is done).
    allowed = cli(home, "runs", "resume", run_id, "--allow-custom-pipeline")
    assert allowed.returncode == 2 and "only an interrupted run" in allowed.stderr
    assert "warning: custom pipeline" in allowed.stderr


def test_a_local_custom_pipeline_is_stored_absolute_and_a_spec_naming_it_needs_it_again(
    tmp_path, monkeypatch
):
    from studio.app.cli import spec_from_args
    from studio.errors import SpecError

    (tmp_path / "pipeline.py").write_text(CUSTOM)
    monkeypatch.chdir(tmp_path)
    parser = build_parser()
    spec = spec_from_args(
        parser.parse_args(["animate", "--prompts", "0: a", "--custom-pipeline", "pipeline.py"])
    )
    assert spec.diffusion.custom_pipeline == str(tmp_path / "pipeline.py")
    path = tmp_path / "spec.json"
    path.write_text(spec.to_json())
    with pytest.raises(SpecError, match="--allow-custom-pipeline"):
        spec_from_args(parser.parse_args(["animate", "--spec", str(path)]))
    with pytest.raises(SpecError, match="--allow-custom-pipeline"):
        spec_from_args(
            parser.parse_args(["animate", "--spec", str(path), "--custom-pipeline", "other.py"])
        )
    again = spec_from_args(
        parser.parse_args(["animate", "--spec", str(path), "--custom-pipeline", "pipeline.py"])
    )
    assert again.diffusion.custom_pipeline == str(tmp_path / "pipeline.py")
