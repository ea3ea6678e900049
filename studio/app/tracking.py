"""Experiment logging to MLflow: an optional extra, off unless a run asks for it.

A run that asks (``render(..., mlflow=True)``, ``--mlflow``, the dashboard's sidebar toggle)
gets an events sink, ``MlflowLogger``, put before the store's recorder. When the render
finishes it logs one MLflow run: the spec flattened into params (``diffusion.steps``,
``prompts.schedule``...), the timings, frames, denoise steps and, when the result has them,
the smoothness figures as metrics, and the outputs and the spec's JSON as artifacts. The
experiment is the session's slug; the MLflow run's name is the studio's run id.

Where: ``mlflow=True`` logs to ``$MLFLOW_TRACKING_URI`` when it is set, else to this home's
own store, ``$STUDIO_HOME/mlflow/mlflow.db`` (SQLite: MLflow's file store is in maintenance
mode) with the artifacts in ``$STUDIO_HOME/mlflow/artifacts``; ``mlflow="URI"`` logs there
(a ``file:`` URI or a folder is MLflow's file store, which MLflow 3 needs
``MLFLOW_ALLOW_FILE_STORE`` for: naming one sets it, unless the user set it).

Logging never breaks a render: a failure (no server, a refused write) becomes a note on the
run (``result.notes``, shown by the CLI and History) and a logged warning. Asking for it
without the package installed is refused before anything is recorded (``SpecError``).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.errors import SpecError
from studio.events import OutputFile, RenderResult

__all__ = ["MlflowLogger", "MlflowTarget", "flatten_params", "mlflow_target", "run_metrics"]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install mlflow-skinny==3.18.0 (or the studio's extra: pip install '.[mlflow]')"
_MAX_PARAM = 6000  # characters MLflow keeps of a param's value
_BATCH = 100  # params (and metrics) MLflow takes in one log_batch


@dataclass(frozen=True)
class MlflowTarget:
    """Where a run is logged: ``uri`` (a tracking URI) and, for the home's own store, the
    folder its artifacts go to (None: the tracking server decides)."""

    uri: str
    artifact_root: Path | None = None


def mlflow_target(option: bool | str | None, home: Path) -> MlflowTarget | None:
    """The target a run's ``mlflow`` option names, or None (off: the default).

    ``True``: ``$MLFLOW_TRACKING_URI`` if set, else ``home``'s own SQLite store; a string: that
    tracking URI. Raises ``SpecError`` when logging is asked for and ``mlflow`` cannot be
    imported, or the URI is empty.
    """
    if option is None or option is False:
        return None
    try:
        import mlflow.tracking  # noqa: F401
    except ImportError:
        raise SpecError(f"MLflow logging needs the mlflow package: {INSTALL_HINT}") from None
    if isinstance(option, str):
        if not option.strip():
            raise SpecError("--mlflow-uri must name a tracking URI, got ''")
        return MlflowTarget(option.strip())
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if env:
        return MlflowTarget(env)
    root = Path(home) / "mlflow"
    return MlflowTarget(f"sqlite:///{(root / 'mlflow.db').resolve()}", root / "artifacts")


class MlflowLogger:
    """A render-events sink that logs the run to MLflow when it finishes or fails.

    Put it before the store's recorder in the ``Fanout``: a failure to log is appended to
    ``result.notes`` in ``finished``, so the recorder stores it with the run.
    """

    def __init__(
        self, target: MlflowTarget, *, spec: dict[str, Any], run_id: str, session: str
    ) -> None:
        self.target = target
        self.spec = spec
        self.run_id = run_id
        self.session = session
        self.outputs: list[OutputFile] = []

    def started(self, plan: dict[str, Any]) -> None:
        pass

    def progress(self, done: int, total: int, preview: object = None) -> None:
        pass

    def output(self, output: OutputFile) -> None:
        self.outputs.append(output)

    def finished(self, result: RenderResult) -> None:
        try:
            self._log("FINISHED", metrics=run_metrics(result), outputs=result.outputs)
        except Exception as exc:  # noqa: BLE001 - logging must never break a finished render
            log.warning("MLflow logging of run %s failed", self.run_id, exc_info=True)
            result.notes.append(f"MLflow logging to {self.target.uri} failed: {_one_line(exc)}")

    def failed(self, error: BaseException) -> None:
        try:
            self._log("FAILED", metrics={}, outputs=[], error=str(error) or type(error).__name__)
        except Exception:  # noqa: BLE001
            log.warning("MLflow logging of failed run %s failed", self.run_id, exc_info=True)

    def cancelled(self) -> None:
        try:
            self._log("KILLED", metrics={}, outputs=self.outputs)
        except Exception:  # noqa: BLE001
            log.warning("MLflow logging of cancelled run %s failed", self.run_id, exc_info=True)

    # -- one MLflow run --------------------------------------------------------------------

    def _log(
        self,
        status: str,
        *,
        metrics: dict[str, float | list[float]],
        outputs: list[OutputFile],
        error: str | None = None,
    ) -> None:
        # A tracking server that is down should cost seconds, not MLflow's default minutes of
        # retries, at the end of a render; a user's own setting wins.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        if _is_folder_store(self.target.uri):
            # A folder the user named is MLflow's file store, which MLflow 3 refuses unless
            # told that it is wanted; naming one says so.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.entities import Metric, Param
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.target.uri)
        experiment = client.get_experiment_by_name(self.session)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            location = self.target.artifact_root
            experiment_id = client.create_experiment(
                self.session,
                artifact_location=None if location is None else location.resolve().as_uri(),
            )
        tags = {
            "studio.run_id": self.run_id,
            "studio.session": self.session,
            "studio.kind": str(self.spec.get("kind", "")),
            "studio.model": str(self.spec.get("diffusion", {}).get("model", "")),
        }
        if error is not None:
            tags["studio.error"] = error[:_MAX_PARAM]
        run = client.create_run(experiment_id, run_name=self.run_id, tags=tags)
        mlflow_run = run.info.run_id
        try:
            params = [Param(k, v) for k, v in flatten_params(self.spec).items()]
            now = int(time.time() * 1000)
            points = []
            for key, value in metrics.items():
                if isinstance(value, list):  # a series over frame pairs: steps 1, 2, ...
                    points += [Metric(key, v, now, k) for k, v in enumerate(value, start=1)]
                else:
                    points.append(Metric(key, value, now, 0))
            for i in range(0, max(len(params), len(points)), _BATCH):
                client.log_batch(
                    mlflow_run, params=params[i : i + _BATCH], metrics=points[i : i + _BATCH]
                )
            with tempfile.TemporaryDirectory() as folder:
                spec_file = Path(folder) / "spec.json"
                spec_file.write_text(json.dumps(self.spec, indent=2))
                client.log_artifact(mlflow_run, str(spec_file))
            for output in outputs:
                path = Path(output.path)
                if path.is_dir():
                    client.log_artifacts(mlflow_run, str(path), f"outputs/{path.name}")
                elif path.is_file():
                    client.log_artifact(mlflow_run, str(path), "outputs")
            client.set_tag(mlflow_run, "mlflow.runName", self.run_id)
        except Exception:
            client.set_terminated(mlflow_run, "FAILED")
            raise
        client.set_terminated(mlflow_run, status)


def flatten_params(spec: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A spec's JSON as MLflow params: nested keys joined by dots (``diffusion.steps``),
    lists and nulls as JSON, values cut to the ``_MAX_PARAM`` characters MLflow keeps."""
    flat: dict[str, str] = {}
    for key, value in spec.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten_params(value, f"{name}."))
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        flat[name] = text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 3] + "..."
    return flat


def run_metrics(result: RenderResult) -> dict[str, float | list[float]]:
    """Numbers worth comparing across runs: wall time, stage timings, frames, denoise steps,
    seconds per step and, when the render measured it (``result.extra["smoothness"]``), the
    smoothness figures, its ``distances`` as a series (MLflow step ``k``: frame k-1 to k)."""
    metrics: dict[str, float | list[float]] = {
        "seconds": float(result.seconds),
        "frames": float(result.frames),
        "fps": float(result.fps),
        "denoise_steps": float(result.denoise_steps),
    }
    if result.denoise_steps:
        metrics["seconds_per_denoise_step"] = result.seconds / result.denoise_steps
    for stage, seconds in result.timings.items():
        if isinstance(seconds, int | float):
            metrics[f"timings.{stage}"] = float(seconds)
    smoothness = getattr(result, "smoothness", None)
    if smoothness is None:
        smoothness = result.extra.get("smoothness")
    if hasattr(smoothness, "to_dict"):
        smoothness = smoothness.to_dict()
    if isinstance(smoothness, dict):
        for key, value in smoothness.items():
            if isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                metrics[f"smoothness.{key}"] = float(value)
            elif isinstance(value, list) and all(isinstance(v, int | float) for v in value):
                metrics[f"smoothness.{key}"] = [float(v) for v in value]
    return metrics


def _is_folder_store(uri: str) -> bool:
    """Whether ``uri`` names MLflow's file store: ``file:`` or a plain path (no scheme)."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    return scheme in ("", "file") and not uri.startswith(("sqlite:", "databricks"))


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."
