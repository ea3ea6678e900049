"""MLflow logging (``studio.app.tracking``): off by default; asked for, a finished run's spec,
timings and outputs land in a real local MLflow store; a logging failure is a note on the
run, never a failed render; without the package, a clear refusal before anything is
recorded."""

from __future__ import annotations

import sys

import pytest

import studio
from db import Store, list_runs
from studio.errors import SpecError
from studio.spec import AnimationSpec, DiffusionSettings, PromptSettings


def tiny_spec() -> AnimationSpec:
    return AnimationSpec(
        prompts=PromptSettings(schedule="0: a red circle\n2: a blue square"),
        diffusion=DiffusionSettings(model="builtin:tiny", width=64, height=64, steps=1, seed=3),
    )


def test_off_by_default_even_with_a_tracking_uri_in_the_environment(tmp_path, monkeypatch):
    import inspect

    from studio.app.cli import build_parser
    from studio.app.tracking import MlflowTarget, mlflow_target

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert inspect.signature(studio.render).parameters["mlflow"].default is None
    args = build_parser().parse_args(["animate", "--prompts", "0: a red circle"])
    assert args.mlflow is None and args.mlflow_uri is None
    assert mlflow_target(None, tmp_path) is None and mlflow_target(False, tmp_path) is None
    assert mlflow_target(True, tmp_path) == MlflowTarget("sqlite:///elsewhere.db")
    assert mlflow_target("http://h:5000", tmp_path) == MlflowTarget("http://h:5000")
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    own = mlflow_target(True, tmp_path)
    assert own.uri == f"sqlite:///{tmp_path.resolve() / 'mlflow' / 'mlflow.db'}"
    assert own.artifact_root == tmp_path / "mlflow" / "artifacts"


def test_a_run_is_logged_with_its_params_metrics_and_artifacts(studio_home, manager, tmp_path):
    from mlflow.tracking import MlflowClient

    store = (tmp_path / "mlruns").as_uri()  # MLflow's file store in tmp_path
    run_id, result = studio.render(tiny_spec(), session="Logged", manager=manager, mlflow=store)
    assert result.notes == []
    client = MlflowClient(store)
    experiment = client.get_experiment_by_name("logged")  # the session's slug
    (logged,) = client.search_runs([experiment.experiment_id])
    assert logged.info.run_name == run_id and logged.info.status == "FINISHED"
    assert logged.data.tags["studio.run_id"] == run_id
    assert logged.data.tags["studio.model"] == "builtin:tiny"
    params = logged.data.params
    assert params["diffusion.steps"] == "1" and params["diffusion.seed"] == "3"
    assert params["prompts.schedule"] == "0: a red circle\n2: a blue square"
    assert params["kind"] == "animation" and params["diffusion.width"] == "64"
    metrics = logged.data.metrics
    assert metrics["frames"] == 3 and metrics["denoise_steps"] == result.denoise_steps == 3
    assert metrics["seconds"] == pytest.approx(result.seconds)
    assert {f"timings.{k}" for k in result.timings} <= set(metrics)
    measured = result.extra.get("smoothness")  # when the render scored its motion
    if measured is not None:
        assert metrics["smoothness.cv"] == measured["cv"]
        assert metrics["smoothness.mean"] == measured["mean"]
    names = {a.path for a in client.list_artifacts(logged.info.run_id)}
    assert names == {"outputs", "spec.json"}
    (video,) = client.list_artifacts(logged.info.run_id, "outputs")
    assert video.path == "outputs/animation.mp4"
    assert video.file_size == result.outputs[0].path.stat().st_size
    experiment_dir = tmp_path / "mlruns" / experiment.experiment_id
    assert (experiment_dir / logged.info.run_id / "artifacts/outputs/animation.mp4").is_file()
    assert not (studio_home / "mlflow").exists()  # a named store, not the home's own


def test_a_logging_failure_is_a_note_on_a_finished_run(cli, tmp_path):
    home = tmp_path / "home"
    proc = cli(
        home,
        "animate",
        "--model",
        "builtin:tiny",
        "--prompts",
        "0: a red circle",
        "--width",
        "64",
        "--height",
        "64",
        "--steps",
        "1",
        "--quiet",
        "--mlflow-uri",
        "nosuchscheme://tracking",
    )
    assert proc.returncode == 0, proc.stderr
    assert "note: MLflow logging to nosuchscheme://tracking failed: " in proc.stderr
    with Store.open(home).session() as s:
        (run,) = list_runs(s)
        assert run.status == "done" and run.outputs
        assert any("MLflow logging" in note for note in run.extra["notes"])


def test_asking_without_the_package_is_refused_before_a_run_is_recorded(
    cli, tmp_path, monkeypatch, studio_home, manager
):
    from studio.app.cli import build_parser
    from studio.app.cli.rendering import mlflow_option

    monkeypatch.setitem(sys.modules, "mlflow", None)
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    with pytest.raises(SpecError, match="needs the mlflow package: pip install mlflow-skinny"):
        studio.render(tiny_spec(), manager=manager, mlflow="http://127.0.0.1:5000")
    home = tmp_path / "cli-home"
    proc = cli(home, "animate", "--model", "builtin:tiny", "--prompts", "0: a cat", "--mlflow")
    assert proc.returncode == 2 and "pip install mlflow-skinny" in proc.stderr
    for command in (["runs", "resume", "RUN"], ["runs", "rerun", "RUN"]):  # both take it too
        args = build_parser().parse_args([*command, "--mlflow-uri", "http://h:5000"])
        assert mlflow_option(args) == "http://h:5000"
    proc = cli(home, "runs", "resume", "20261207-000000-abcdef", "--mlflow")
    assert proc.returncode == 2 and "pip install mlflow-skinny" in proc.stderr
    for where in (studio_home, home):
        if (where / "studio.db").exists():
            with Store.open(where).session() as s:
                assert list_runs(s) == []
