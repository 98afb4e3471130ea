"""Runs read back from MLflow as DataFrames: every number and curve of a report comes from here.

The run files the training stages write (``outputs.run_file``, e.g. ``metrics/numpy_run.json``) are
read only for their ``run_id``; the metrics files' numbers are never used, so a report always shows
what the tracking store recorded.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from mlpbench import tracking
from mlpbench.options import BACKENDS
from mlpbench.tracking import queries

CURVES = ("train/loss", "val/loss", "train/acc", "val/acc")


class ReportError(RuntimeError):
    """The runs a report was asked for cannot be found or read."""


def read_run_ids(run_files: Sequence[Path]) -> list[str]:
    """The ``run_id`` of each run file (nothing else is read from them)."""
    ids = []
    for path in map(Path, run_files):
        if not path.is_file():
            raise ReportError(f"run file {path} not found; it is written by the training stages: "
                              "run `dvc repro` (or pipelines/train.py) first, or name existing files")
        try:
            run_id = json.loads(path.read_text()).get("run_id")
        except (json.JSONDecodeError, AttributeError) as err:
            raise ReportError(f"run file {path} is not a JSON object ({err}); rerun its training stage") from err
        if not isinstance(run_id, str) or not run_id:
            raise ReportError(f"{path} has no 'run_id'; name a run file (outputs.run_file, e.g. "
                              "metrics/numpy_run.json), not a metrics file, or rerun its training stage")
        ids.append(run_id)
    return ids


def column(frame: pd.DataFrame, key: str) -> pd.Series:
    """``frame[key]``, or all-missing when no run has that key."""
    return frame[key] if key in frame else pd.Series(float("nan"), index=frame.index, dtype=object)


def backend_rank(name: str) -> tuple[int, str]:
    """Registered backends in registry order, then unknown names alphabetically."""
    names = BACKENDS.names()
    return (names.index(name), "") if name in names else (len(names), name)


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs with ``backend`` and ``preset`` columns (tag, else param) and metrics by plain key."""
    frame = frame.rename(columns=lambda c: c.removeprefix("metrics."))
    backend = column(frame, "tags.backend").fillna(column(frame, "params.backend")).fillna("?")
    preset = column(frame, "tags.preset").fillna(column(frame, "params.preset")).fillna("default")
    return frame.assign(backend=backend, preset=preset, name=frame["name"].fillna(frame["run_id"]))


def load_runs(uri: str, run_ids: Sequence[str]) -> pd.DataFrame:
    """The runs (``tidy``); one ``ReportError`` naming every id that is not in the store."""
    if not run_ids:
        raise ReportError("no run ids to report on; name the metrics files of the training runs")
    frame = queries.search_runs(uri, run_ids=list(run_ids))
    missing = [r for r in dict.fromkeys(run_ids) if r not in set(frame["run_id"])]
    if missing:
        raise ReportError(
            f"run(s) {', '.join(missing)} not found in the MLflow tracking store {uri}; the metrics "
            "files point at runs of another store (set MLFLOW_TRACKING_URI or tracking.uri) or the "
            "runs were deleted (rerun the training stages: dvc repro -f train tutorial)")
    return tidy(frame)


def history(uri: str, run_id: str) -> dict[str, list[float]]:
    """The per-epoch curves of a run (``CURVES`` and "epoch"), on the epochs every curve has."""
    series = {key: dict(tracking.metric_history(uri, run_id, key)) for key in CURVES}
    epochs = sorted(set.intersection(*(set(s) for s in series.values())))
    return {"epoch": epochs, **{key: [values[e] for e in epochs] for key, values in series.items()}}


def load_sweep(uri: str, parent_run_id: str | None, experiment: str | None,
               filter_string: str) -> tuple[dict[str, Any] | None, pd.DataFrame]:
    """(parent run or None, its children / the experiment's matching runs, ``tidy``).

    Report runs (tag ``report=true``) and sweep parents are left out of an experiment's runs.
    """
    where = f"(tracking store {uri}" + (f", filter {filter_string!r})" if filter_string else ")")
    try:
        parent = tracking.get_run(uri, parent_run_id) if parent_run_id else None
        frame = queries.search_runs(uri, experiment=experiment, parent_run_id=parent_run_id,
                                    filter_string=filter_string)
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
    frame = frame[(column(frame, "tags.report") != "true") & (column(frame, "tags.sweep") != "parent")]
    if frame.empty:
        what = f"child runs of parent run {parent_run_id}" if parent_run_id else f"runs in experiment {experiment!r}"
        raise ReportError(f"no {what} {where}; check the id/name and the filter")
    return parent, tidy(frame)
