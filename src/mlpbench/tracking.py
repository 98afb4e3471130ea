"""MLflow tracking: the only module of mlpbench that imports mlflow.

A training run is wrapped in ``TrackedRun``: it starts an MLflow run with params and tags, takes
per-epoch metrics, artifacts and the model, and ends the run with an honest status: FINISHED on
success, KILLED on SIGINT/SIGTERM, FAILED on any other exception (the error is kept as the tag
``error`` and the artifact ``error.txt``). Nothing is left RUNNING.
"""
from __future__ import annotations

import logging
import os
import traceback
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import mlflow
import mlflow.pyfunc
import numpy as np
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

log = logging.getLogger(__name__)
DB_NAME = "mlflow.db"
# MLflow re-downloads logged models to check them; its progress bar would clutter training logs.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (see ``signals``)."""


def resolve_tracking_uri(root: Path, configured: str | None = None) -> str:
    """MLFLOW_TRACKING_URI, else ``tracking.uri`` from the config, else ROOT/mlflow.db (absolute).

    A relative ``sqlite:///x.db`` would follow the working directory, which Hydra and DVC change,
    so relative SQLite paths are anchored at the project root.
    """
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured or f"sqlite:///{Path(root) / DB_NAME}"
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix):].startswith("/"):
        uri = prefix + str((Path(root) / uri[len(prefix):]).resolve())
    return uri


def prepare(uri: str, experiment: str) -> str:
    """Create the store (schema migration) and the experiment once, before any parallel job.

    Returns the experiment id.
    """
    mlflow.set_tracking_uri(uri)
    found = mlflow.get_experiment_by_name(experiment)
    if found:
        return found.experiment_id
    return mlflow.create_experiment(experiment, artifact_location=_artifact_location(uri, experiment))


def _artifact_location(uri: str, experiment: str) -> str | None:
    """For a SQLite store: ``mlartifacts/<experiment>`` beside the database file.

    MLflow's own default is relative to the working directory, which Hydra and DVC change.
    Servers and other stores choose their own location (None).
    """
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    return (Path(uri[len(prefix):]).parent / "mlartifacts" / experiment).as_uri()


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'optim': {'lr': 0.1}} -> {'optim.lr': 0.1}; lists become their string form."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def start_parent_run(uri: str, experiment_id: str, name: str, tags: Mapping[str, str]) -> str:
    """Create the parent run of a sweep (left RUNNING until ``end_parent_run``); return its id."""
    client = MlflowClient(uri)
    return client.create_run(experiment_id, run_name=name, tags=dict(tags)).info.run_id


def end_parent_run(uri: str, run_id: str, status: str) -> None:
    """Mark the sweep's parent run FINISHED/FAILED/KILLED if it is still RUNNING."""
    client = MlflowClient(uri)
    if client.get_run(run_id).info.status == "RUNNING":
        client.set_terminated(run_id, status)


def child_statuses(uri: str, parent_run_id: str) -> list[str]:
    """Statuses of the runs whose parent is ``parent_run_id``."""
    client = MlflowClient(uri)
    parent = client.get_run(parent_run_id)
    runs = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'")
    return [r.info.status for r in runs]


class TrackedRun:
    """Context manager around one MLflow run; see the module docstring for the status rules."""

    def __init__(self, uri: str, experiment_id: str, run_name: str, params: Mapping[str, Any],
                 tags: Mapping[str, str], parent_run_id: str | None = None):
        self.uri, self.experiment_id, self.run_name = uri, experiment_id, run_name
        self.params, self.tags, self.parent_run_id = params, tags, parent_run_id
        self.run_id: str | None = None

    def __enter__(self) -> "TrackedRun":
        mlflow.set_tracking_uri(self.uri)
        run = mlflow.start_run(experiment_id=self.experiment_id, run_name=self.run_name,
                               parent_run_id=self.parent_run_id, tags=dict(self.tags))
        self.run_id = run.info.run_id
        mlflow.log_params(flatten(self.params))
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))
            return False
        killed = issubclass(exc_type, (KeyboardInterrupt, Terminated))
        try:
            mlflow.set_tag("error", f"{exc_type.__name__}: {exc}"[:5000])
            if not killed:
                mlflow.log_text("".join(traceback.format_exception(exc_type, exc, tb)), "error.txt")
        finally:
            mlflow.end_run(RunStatus.to_string(RunStatus.KILLED if killed else RunStatus.FAILED))
        return False

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        mlflow.log_metrics(dict(metrics), step=step)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        mlflow.set_tags(dict(tags))

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        mlflow.log_artifact(str(path), artifact_path=folder)

    def log_text(self, text: str, name: str) -> None:
        mlflow.log_text(text, name)

    def log_dict(self, values: Mapping[str, Any], name: str) -> None:
        mlflow.log_dict(dict(values), name)

    def log_torch_model(self, module, input_example) -> None:
        """Log an ``nn.Module``; ``input_example`` (a few input rows) traces and documents it."""
        import mlflow.pytorch  # the flavour pulls in torch; import it only when needed
        import torch

        # Requirements given, not inferred: inference re-imports the model (seconds per run).
        mlflow.pytorch.log_model(module, name="model", input_example=input_example,
                                 pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"])

    def log_numpy_model(self, weights: Path) -> None:
        # The model object holds no state (weights travel as an artifact), so pickling it is safe;
        # silence MLflow's generic warnings about pickled python models.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
            mlflow.pyfunc.log_model(
                name="model", python_model=NumpyMLPModel(), artifacts={"weights": str(weights)},
                code_paths=[str(Path(__file__).parent)],  # ship mlpbench: loads without installing it
                pip_requirements=["numpy", "pyyaml"],
            )


class NumpyMLPModel(mlflow.pyfunc.PythonModel):
    """The from-scratch NumPy MLP as an ``mlflow.pyfunc`` model.

    Its one artifact ``weights`` is the ``weights.npz`` written by ``model_io.save_model``;
    ``predict`` takes pixels (n, 784) in [0, 1] and returns predicted digits (n,) int64.
    """

    def load_context(self, context) -> None:
        from mlpbench import model_io

        self.model = model_io.load_model(context.artifacts["weights"])

    def predict(self, context, model_input: np.ndarray, params=None) -> np.ndarray:
        # The np.ndarray hint tells MLflow not to infer a signature from it (an untyped input
        # makes MLflow warn when this class is defined, i.e. in every run that imports tracking).
        return self.model.predict(np.asarray(model_input, dtype=np.float32))


# --- Reading runs back (report) ---
# Plain dicts out: the report package never sees an mlflow object.


class RunNotFoundError(LookupError):
    """One or more run ids are not in the tracking store."""


class ExperimentNotFoundError(LookupError):
    """No experiment of that name in the tracking store."""


def _run_dict(run) -> dict[str, Any]:
    info, data = run.info, run.data
    return {
        "run_id": info.run_id, "name": info.run_name, "experiment_id": info.experiment_id,
        "status": info.status, "params": dict(data.params), "metrics": dict(data.metrics),
        "tags": {k: v for k, v in data.tags.items()},
    }


def get_run(uri: str, run_id: str) -> dict[str, Any]:
    """A run as ``{run_id, name, experiment_id, status, params, metrics, tags}``.

    Raises ``RunNotFoundError`` naming the run id and the store when it does not exist.
    """
    from mlflow.exceptions import MlflowException

    try:
        return _run_dict(MlflowClient(uri).get_run(run_id))
    except MlflowException as err:
        if err.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise RunNotFoundError(f"run {run_id!r} not found in the tracking store {uri}") from err
        raise


def metric_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    """``(step, value)`` of metric ``key`` sorted by step; the last value logged wins a step."""
    latest: dict[int, tuple[int, float]] = {}
    for m in MlflowClient(uri).get_metric_history(run_id, key):
        if m.step not in latest or m.timestamp >= latest[m.step][0]:
            latest[m.step] = (m.timestamp, m.value)
    return [(step, latest[step][1]) for step in sorted(latest)]


def experiment_id_by_name(uri: str, name: str) -> str:
    """The id of experiment ``name``; ``ExperimentNotFoundError`` listing the known names if absent."""
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(name)
    if found is None:
        known = sorted(e.name for e in client.search_experiments())
        raise ExperimentNotFoundError(
            f"experiment {name!r} not found in the tracking store {uri}; known experiments: "
            f"{', '.join(map(repr, known)) or '(none)'}")
    return found.experiment_id


def find_runs(uri: str, experiment: str | None = None, filter_string: str = "",
              parent_run_id: str | None = None) -> list[dict[str, Any]]:
    """Runs of ``experiment`` (by name) and/or children of ``parent_run_id``, oldest first.

    ``filter_string`` is an MLflow search filter, e.g. ``params.backend = 'numpy'``; it is
    combined with the parent condition by AND. At least one of experiment/parent_run_id is needed.
    """
    if experiment is None and parent_run_id is None:
        raise ValueError("find_runs needs an experiment name or a parent run id")
    filters = [f"tags.mlflow.parentRunId = '{parent_run_id}'"] if parent_run_id else []
    filters += [filter_string] if filter_string.strip() else []
    if experiment is not None:
        experiment_ids = [experiment_id_by_name(uri, experiment)]
    else:
        experiment_ids = [get_run(uri, parent_run_id)["experiment_id"]]
    client, runs, token = MlflowClient(uri), [], None
    while True:
        page = client.search_runs(experiment_ids, " AND ".join(filters), max_results=1000,
                                  order_by=["attributes.start_time ASC"], page_token=token)
        runs += [_run_dict(r) for r in page]
        token = page.token
        if not token:
            return runs


def download_artifact(uri: str, run_id: str, path: str, dst: Path) -> Path:
    """Copy artifact ``path`` of the run into folder ``dst``; return the local path."""
    Path(dst).mkdir(parents=True, exist_ok=True)
    return Path(MlflowClient(uri).download_artifacts(run_id, path, str(dst)))


def log_report(uri: str, experiment_id: str, files: Sequence[tuple[Path, str | None]],
               tags: Mapping[str, str], run_name: str = "report") -> str:
    """Record report files as the artifacts of a new run tagged ``report=true``; return its id.

    files: ``(local file, artifact folder or None for the root)`` pairs. The run ends FINISHED,
    or FAILED when an upload fails (the error is re-raised).
    """
    client = MlflowClient(uri)
    run_id = client.create_run(experiment_id, run_name=run_name,
                               tags={"report": "true", **dict(tags)}).info.run_id
    try:
        for local, folder in files:
            client.log_artifact(run_id, str(local), artifact_path=folder)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id
