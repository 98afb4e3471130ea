"""Runs read back from MLflow: every number and curve of a report comes from here.

The metrics JSON files the training stages write are read only for their ``run_id``; the values
they also hold are never used, so a report always shows what the tracking store recorded.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from mlpbench import tracking

CURVE_KEYS = ("train/loss", "val/loss", "train/acc", "val/acc")


class ReportError(RuntimeError):
    """The runs a report was asked for cannot be found or read."""


@dataclass(frozen=True)
class RunData:
    """One MLflow run as the report needs it (values as recorded; params are strings)."""

    run_id: str
    name: str
    experiment_id: str
    status: str
    params: Mapping[str, str]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]
    history: Mapping[str, Sequence[float]]  # "epoch" and CURVE_KEYS, aligned by epoch

    @property
    def backend(self) -> str:
        return self.tags.get("backend") or self.params.get("backend", "?")

    @property
    def preset(self) -> str:
        return self.tags.get("preset") or self.params.get("preset", "default")


def read_run_ids(metrics_files: Sequence[Path]) -> list[str]:
    """The ``run_id`` of each metrics JSON (nothing else is read from them)."""
    ids = []
    for path in map(Path, metrics_files):
        if not path.is_file():
            raise ReportError(f"metrics file {path} not found; it is written by the training stages: "
                              "run `dvc repro` (or pipelines/train.py) first, or name existing files")
        try:
            run_id = json.loads(path.read_text()).get("run_id")
        except (json.JSONDecodeError, AttributeError) as err:
            raise ReportError(f"metrics file {path} is not a JSON object ({err}); rerun its training stage") from err
        if not isinstance(run_id, str) or not run_id:
            raise ReportError(f"metrics file {path} has no 'run_id'; rerun its training stage to rewrite it")
        ids.append(run_id)
    return ids


def history(uri: str, run_id: str) -> dict[str, list[float]]:
    """The per-epoch curves of a run, restricted to the epochs every curve has."""
    series = {key: dict(tracking.metric_history(uri, run_id, key)) for key in CURVE_KEYS}
    epochs = sorted(set.intersection(*(set(s) for s in series.values()))) if series else []
    out: dict[str, list[float]] = {"epoch": epochs}
    for key, values in series.items():
        out[key] = [values[e] for e in epochs]
    return out


def run_data(uri: str, record: Mapping[str, Any], with_history: bool = True) -> RunData:
    run_id = record["run_id"]
    return RunData(run_id, record["name"] or run_id, record["experiment_id"], record["status"],
                   dict(record["params"]), dict(record["metrics"]), dict(record["tags"]),
                   history(uri, run_id) if with_history else {})


def load_runs(uri: str, run_ids: Sequence[str], with_history: bool = True) -> list[RunData]:
    """The runs, in the order given; one ``ReportError`` naming every id that is missing."""
    if not run_ids:
        raise ReportError("no run ids to report on; name the metrics files of the training runs")
    records, missing = [], []
    for run_id in run_ids:
        try:
            records.append(tracking.get_run(uri, run_id))
        except tracking.RunNotFoundError:
            missing.append(run_id)
    if missing:
        raise ReportError(
            f"run(s) {', '.join(missing)} not found in the MLflow tracking store {uri}; the metrics "
            "files point at runs of another store (set MLFLOW_TRACKING_URI or tracking.uri) or the "
            "runs were deleted (rerun the training stages: dvc repro -f train tutorial)")
    return [run_data(uri, r, with_history) for r in records]


def load_sweep(uri: str, parent_run_id: str | None = None, experiment: str | None = None,
               filter_string: str = "") -> tuple[dict[str, Any] | None, list[RunData]]:
    """(parent run or None, its children / the experiment's matching runs).

    Report runs (tag ``report=true``) and sweep parents are left out of an experiment's runs.
    """
    where = f"(tracking store {uri}" + (f", filter {filter_string!r})" if filter_string else ")")
    parent = None
    try:
        if parent_run_id:
            parent = tracking.get_run(uri, parent_run_id)
        records = tracking.find_runs(uri, experiment, filter_string, parent_run_id)
    except tracking.RunNotFoundError as err:
        raise ReportError(f"sweep parent run {parent_run_id} not found {where}; pass the id shown by "
                          "the sweep's log or the MLflow UI") from err
    except tracking.ExperimentNotFoundError as err:
        raise ReportError(f"{err}; {where}") from err
    except Exception as err:  # a malformed filter string is reported by MLflow
        if filter_string:
            raise ReportError(f"cannot search runs {where}: {err}; check the filter syntax, e.g. "
                              "\"params.backend = 'numpy'\"") from err
        raise
    records = [r for r in records if r["tags"].get("report") != "true" and r["tags"].get("sweep") != "parent"]
    if not records:
        what = f"child runs of parent run {parent_run_id}" if parent_run_id else f"runs in experiment {experiment!r}"
        raise ReportError(f"no {what} {where}; check the id/name and the filter")
    return parent, [run_data(uri, r, with_history=False) for r in records]
