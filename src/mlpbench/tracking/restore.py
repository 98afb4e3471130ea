"""Restore runs from their exports (``tracking.portable``) into a tracking store; ``make ui`` runs it first.

    python -m mlpbench.tracking.restore                # every export under runs/, into the project's store
    python -m mlpbench.tracking.restore runs/numpy     # these exports only
    python -m mlpbench.tracking.restore --uri http://127.0.0.1:5000

``restore`` imports a run the store lacks, once (under a lock), keeping its original id in the tag
``portable.SOURCE_TAG``, and maps each original id to the id it has in the store. A run already in
the store (by its own id, or imported before) is left alone, so restoring is safe to repeat.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from mlpbench.params import load_params
from mlpbench.tracking.portable import SOURCE_TAG, ExportError, read_export
from mlpbench.tracking.races import retried
from mlpbench.tracking.runs import file_lock, prepare
from mlpbench.tracking.store import resolve_tracking_uri

EXPORTS = "runs"  # the folder every run-producing DVC stage writes its export into (dvc.yaml)
# Tags that point into the store a run came from; an imported run has its own (or none).
NOT_CARRIED = ("mlflow.runName", "mlflow.parentRunId", "report_run_id", "report_experiment")
PARENT_TAG = "mlflow.parentRunId"
BATCH = {"metrics": 1000, "params": 100}  # MLflow's log_batch limits


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
            client.log_artifacts(run_id, str(plain_files(artifacts)))
        if record["models"]:
            client.log_dict(run_id, {"logged_models": record["models"]}, "logged_models.json")
        client.set_terminated(run_id, record["status"], end_time=record["end_time"])
        client.set_tag(run_id, SOURCE_TAG, record["run_id"])
    except BaseException:
        with contextlib.suppress(Exception):
            client.delete_run(run_id)
        raise
    return run_id


def plain_files(folder: Path) -> Path:
    """``folder``, once checked to hold plain files and folders only: a symbolic link in an export (a
    commit can hold one) would copy whatever it points at into the store."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            raise ExportError(f"run export {folder} holds a symbolic link ({path}); an export holds plain files "
                              "only: rebuild the stage that writes it")
    return folder


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


def store_uri(root: Path, uri: str | None) -> str:
    """``uri``, else what the pipeline uses: MLFLOW_TRACKING_URI, tracking.uri of params.yaml, mlflow.db in ``root``."""
    if uri:
        return uri
    params = root / "params.yaml"
    tracking = (load_params(params).get("tracking") or {}) if params.is_file() else {}
    return resolve_tracking_uri(root, tracking.get("uri"), server=bool(tracking.get("server")))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help=f"export folders (default: every folder in {EXPORTS}/)")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="project root (default: the current folder)")
    parser.add_argument("--uri", help="tracking store (default: the pipeline's)")
    args = parser.parse_args(argv)
    folders = args.folders or sorted(p for p in (args.root / EXPORTS).glob("*") if p.is_dir())
    uri = store_uri(args.root, args.uri)
    try:
        mapping, imported = restore(uri, folders)
    except ExportError as err:
        print(f"restore failed: {err}; rebuild the stage that writes it (`dvc repro -s -f <stage>`)", file=sys.stderr)
        return 1
    except Exception as err:  # the store refused a write (read-only, full disk): one line, nothing half-made
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        print(f"restore failed: the MLflow store {uri} refused the import ({first}); the runs of {EXPORTS}/ "
              "are not in it", file=sys.stderr)
        return 1
    print(f"{imported} of {len(mapping)} exported run(s) imported from {len(folders)} folder(s) under "
          f"{EXPORTS}/; the others were already in the store")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
