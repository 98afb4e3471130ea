"""Runs that travel with the pipeline: a portable export of MLflow runs, and its restore.

Git and DVC version the files a stage writes, not the MLflow store, so every stage that records
runs also writes their export as one of its outputs (``export_runs``). An export is a folder:

    <run_id>.json   name, experiment, status and times, params, tags, every metric's full history,
                    dataset inputs and the logged models' metadata (format ``FORMAT``)
    <run_id>/       the run's artifacts (model files are not among them: DVC versions those)

Whatever reads runs first restores them (``tracking.restore``): a run the active store lacks is
imported from its export, once, keeping its original id in the tag ``SOURCE_TAG`` (MLflow gives
every new run a new id). A clone, a ``dvc pull``, a teammate's commit or ``dvc exp apply`` then
brings the runs along with the files that name them.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any, Sequence

from mlflow.entities import DatasetInput
from mlflow.tracking import MlflowClient

FORMAT = 1
SOURCE_TAG = "mlpbench.source_run_id"  # on an imported run: the id it had where it was made


class ExportError(RuntimeError):
    """An export folder is missing, unreadable or of an unknown format."""


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
