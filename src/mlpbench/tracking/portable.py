"""Runs that travel with the pipeline: a portable export of MLflow runs, and its restore.

Git and DVC version the files a stage writes, not the MLflow store, so every stage that records
runs also writes their export as one of its outputs (``export_runs``). An export is a folder:

    <run_id>.json   name, experiment, status and times, params, tags, every metric's full history,
                    dataset inputs and the logged models' metadata (format ``FORMAT``)
    <run_id>/       the run's artifacts (model files are not among them: DVC versions those)

Whatever reads runs first calls ``restore``: a run the active store lacks is imported from its
export, once, keeping its original id in the tag ``SOURCE_TAG`` (MLflow gives every new run a new
id); ``restore`` maps each original id to the id it has in the store. A clone, a ``dvc pull``, a
teammate's commit or ``dvc exp apply`` then brings the runs along with the files that name them.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlpbench.tracking.races import retried
from mlpbench.tracking.runs import file_lock, prepare

FORMAT = 1
SOURCE_TAG = "mlpbench.source_run_id"  # on an imported run: the id it had where it was made
# Tags that point into the store a run came from; an imported run has its own (or none).
NOT_CARRIED = ("mlflow.runName", "mlflow.parentRunId", "report_run_id", "report_experiment")
PARENT_TAG = "mlflow.parentRunId"
BATCH = {"metrics": 1000, "params": 100, "tags": 100}  # MLflow's log_batch limits


class ExportError(RuntimeError):
    """An export folder is missing, unreadable or of an unknown format."""


# ----------------------------------------------------------------------------------------- export


def export_runs(uri: str, run_ids: Sequence[str], folder: Path, running_as: str | None = None,
                artifacts: bool = True) -> Path:
    """Write the export of ``run_ids`` to ``folder``, replacing what was there only once it is complete.

    running_as: the status to record for a run that is still RUNNING (a training run exports itself
    just before it ends FINISHED); None records the status as it is. artifacts: False leaves the
    artifacts out (where they are the stage's own outputs, which git or DVC already hold).
    """
    folder = Path(folder)
    staging = write_export(uri, run_ids, folder.with_name(f".{folder.name}.export-{secrets.token_hex(4)}"),
                           running_as, artifacts)
    replace_folder(staging, folder)
    return folder


def write_export(uri: str, run_ids: Sequence[str], folder: Path, running_as: str | None = None,
                 artifacts: bool = True) -> Path:
    """Write the export of ``run_ids`` into ``folder`` (which must not exist); removed again on failure."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    try:
        client = MlflowClient(uri)
        for run_id in dict.fromkeys(run_ids):
            record = run_record(client, run_id, running_as)
            if artifacts:
                _download_artifacts(client, run_id, folder / run_id)
            (folder / f"{run_id}.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def foreign_entries(folder: Path) -> list[str]:
    """What ``folder`` holds besides a run export (relative paths); [] for an export, an empty folder or none.

    An export is ``<run_id>.json`` records of this format and ``<run_id>/`` folders beside them: a
    folder with anything else is not replaced by a new export (a run owns only what it wrote).
    """
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink():
        return []
    records = set()
    for path in folder.glob("*.json"):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            if json.loads(path.read_text()).get("format") == FORMAT:
                records.add(path.stem)
    return sorted(p.name for p in folder.iterdir()
                  if not (p.suffix == ".json" and p.stem in records) and not (p.is_dir() and p.name in records))


def check_replaceable(folder: Path, key: str) -> None:
    """``ExportError`` naming ``key`` when ``folder`` holds files that are no run export (before any work)."""
    if foreign := foreign_entries(folder):
        named = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise ExportError(f"{key}={str(folder)!r} holds files that are not a run export ({named}): an export "
                          "replaces only an earlier export; choose a new or empty folder, or move those files away")


def replace_folder(new: Path, final: Path) -> None:
    """Move the complete folder ``new`` to ``final``, then remove the folder it replaced."""
    old = final.with_name(f".{final.name}.old-{secrets.token_hex(4)}")
    if final.exists():
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)


def run_record(client: MlflowClient, run_id: str, running_as: str | None = None) -> dict[str, Any]:
    """Everything about a run but its artifacts, as plain JSON values."""
    run = client.get_run(run_id)
    info, data = run.info, run.data
    status = running_as if running_as and info.status == "RUNNING" else info.status
    end_time = info.end_time or (int(time.time() * 1000) if status != "RUNNING" else None)
    return {
        "format": FORMAT, "run_id": info.run_id, "run_name": info.run_name,
        "experiment": client.get_experiment(info.experiment_id).name,
        "status": status, "start_time": info.start_time, "end_time": end_time,
        "params": dict(data.params), "tags": dict(data.tags),
        "metrics": {key: [[m.step, m.timestamp, m.value] for m in client.get_metric_history(run_id, key)]
                    for key in sorted(data.metrics)},
        "inputs": [_dataset_record(d) for d in run.inputs.dataset_inputs] if run.inputs else [],
        "models": [_model_record(client, o.model_id) for o in (run.outputs.model_outputs if run.outputs else [])],
    }


def _dataset_record(d: DatasetInput) -> dict[str, Any]:
    ds = d.dataset
    return {"name": ds.name, "digest": ds.digest, "source_type": ds.source_type, "source": ds.source,
            "schema": ds.schema, "profile": ds.profile, "tags": {t.key: t.value for t in d.tags}}


def _model_record(client: MlflowClient, model_id: str) -> dict[str, Any]:
    model = client.get_logged_model(model_id)
    return {"model_id": model.model_id, "name": model.name, "params": dict(model.params or {}),
            "tags": dict(model.tags or {}),
            "metrics": {m.key: m.value for m in (model.metrics or [])}}


def _download_artifacts(client: MlflowClient, run_id: str, dst: Path) -> None:
    if client.list_artifacts(run_id):
        dst.mkdir(parents=True)
        client.download_artifacts(run_id, "", str(dst))


# ---------------------------------------------------------------------------------------- restore


def read_export(folder: Path) -> list[dict[str, Any]]:
    """The run records of an export folder; ``ExportError`` naming the folder when it cannot be read."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ExportError(f"run export {folder} not found")
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ExportError(f"run export {path} cannot be read ({err})") from err
        if not isinstance(record, dict) or record.get("format") != FORMAT or not record.get("run_id"):
            raise ExportError(f"run export {path} is not an mlpbench run export of format {FORMAT}")
        records.append({**record, "_folder": str(folder)})
    return records


def restore(uri: str, folders: Iterable[Path], lock_dir: Path | None = None,
            only: Iterable[str] | None = None) -> tuple[dict[str, str], int]:
    """Import the runs of ``folders`` that the store at ``uri`` lacks (of those, only the ids ``only`` if given).

    Returns (original run id -> id in the store, for every run restored or found; how many were
    imported). Idempotent: a run is found by its own id, else by ``SOURCE_TAG``. Several processes
    restoring at once take turns (a lock beside a SQLite store, else in ``lock_dir``).
    """
    wanted = None if only is None else set(only)
    records = [r for folder in folders for r in read_export(folder) if wanted is None or r["run_id"] in wanted]
    if not records:
        return {}, 0
    client = MlflowClient(uri)
    mapping: dict[str, str] = {}
    imported = 0
    with _restore_lock(uri, lock_dir):
        for record in _parents_first(records):
            found = find_run(client, record["run_id"])
            if found is None:
                found = import_run(client, uri, record, mapping)
                imported += 1
            mapping[record["run_id"]] = found
    return mapping, imported


def find_run(client: MlflowClient, run_id: str) -> str | None:
    """The id under which run ``run_id`` is in the store (its own, or an import's), or None."""
    with contextlib.suppress(MlflowException):
        if client.get_run(run_id).info.lifecycle_stage == "active":
            return run_id
    experiment_ids = [e.experiment_id for e in client.search_experiments()]
    if not experiment_ids:
        return None
    found = client.search_runs(experiment_ids, f"tags.`{SOURCE_TAG}` = '{run_id}'", max_results=1)
    return found[0].info.run_id if found else None


def import_run(client: MlflowClient, uri: str, record: Mapping[str, Any], mapping: Mapping[str, str]) -> str:
    """Create the run of ``record`` with its history, inputs and artifacts; return its new id.

    The tag ``SOURCE_TAG`` is set last, so a run is found as imported only once complete; a failed
    import is deleted, leaving nothing half-made behind.
    """
    experiment_id = prepare(uri, record["experiment"])
    tags = {k: v for k, v in record["tags"].items() if k not in NOT_CARRIED}
    parent = record["tags"].get(PARENT_TAG)
    if parent:
        tags[PARENT_TAG if parent in mapping else "mlpbench.source_parent_run_id"] = mapping.get(parent, parent)
    run_id = client.create_run(experiment_id, start_time=record["start_time"], tags=tags,
                               run_name=record["run_name"]).info.run_id
    try:
        _log_data(client, run_id, record)
        _log_inputs(client, run_id, record["inputs"])
        artifacts = Path(record["_folder"]) / record["run_id"]
        if artifacts.is_dir():
            client.log_artifacts(run_id, str(artifacts))
        if record["models"]:
            client.log_dict(run_id, {"logged_models": record["models"]}, "logged_models.json")
        client.set_terminated(run_id, record["status"], end_time=record["end_time"])
        client.set_tag(run_id, SOURCE_TAG, record["run_id"])
    except BaseException:
        with contextlib.suppress(Exception):
            client.delete_run(run_id)
        raise
    return run_id


def _log_data(client: MlflowClient, run_id: str, record: Mapping[str, Any]) -> None:
    metrics = [Metric(key, value, timestamp, step)
               for key, points in record["metrics"].items() for step, timestamp, value in points]
    params = [Param(k, str(v)) for k, v in record["params"].items()]
    for start in range(0, len(metrics), BATCH["metrics"]):
        client.log_batch(run_id, metrics=metrics[start:start + BATCH["metrics"]])
    for start in range(0, len(params), BATCH["params"]):
        client.log_batch(run_id, params=params[start:start + BATCH["params"]])


def _log_inputs(client: MlflowClient, run_id: str, inputs: Sequence[Mapping[str, Any]]) -> None:
    datasets = [DatasetInput(Dataset(d["name"], d["digest"], d["source_type"], d["source"], d["schema"],
                                     d["profile"]), [InputTag(k, v) for k, v in d["tags"].items()])
                for d in inputs]
    if datasets:  # stored once per experiment: processes restoring into one server race to insert it
        retried(lambda: client.log_inputs(run_id, datasets=datasets))


def _parents_first(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Runs whose parent is among ``records`` after that parent (sweeps are one level deep)."""
    ids = {r["run_id"] for r in records}
    return sorted(records, key=lambda r: r["tags"].get(PARENT_TAG) in ids)


@contextlib.contextmanager
def _restore_lock(uri: str, lock_dir: Path | None) -> Iterator[None]:
    """An exclusive lock for restoring into ``uri``: ``<db>.restore.lock`` for SQLite, else in ``lock_dir``."""
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        path = Path(uri[len(prefix):] + ".restore.lock")
    else:  # a server: processes of one machine take turns; see README, "How runs travel"
        path = Path(lock_dir or tempfile.gettempdir()) / ".mlpbench-restore.lock"
    with file_lock(path):
        yield
