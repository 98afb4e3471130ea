"""Reading runs back from the tracking store (for the report): plain dicts or pandas DataFrames out,
no mlflow objects."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
from mlflow.tracking import MlflowClient


class RunNotFoundError(LookupError):
    """One or more run ids are not in the tracking store."""


class ExperimentNotFoundError(LookupError):
    """No experiment of that name in the tracking store."""


def _run_dict(run) -> dict[str, Any]:
    info, data = run.info, run.data
    return {
        "run_id": info.run_id, "name": info.run_name, "experiment_id": info.experiment_id,
        "status": info.status, "start_time": info.start_time, "params": dict(data.params), "metrics": dict(data.metrics),
        "tags": {k: v for k, v in data.tags.items()},
    }


def get_run(uri: str, run_id: str) -> dict[str, Any]:
    """A run as ``{run_id, name, experiment_id, status, start_time (ms), params, metrics, tags}``.

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


def _where(uri: str, experiment: str | None, filter_string: str,
           parent_run_id: str | None) -> tuple[list[str] | None, list[str]]:
    """(experiment ids or None for all, filter clauses) for a search."""
    filters = [f"tags.mlflow.parentRunId = '{parent_run_id}'"] if parent_run_id else []
    filters += [filter_string] if filter_string.strip() else []
    if experiment is not None:
        return [experiment_id_by_name(uri, experiment)], filters
    if parent_run_id is not None:
        return [get_run(uri, parent_run_id)["experiment_id"]], filters
    return None, filters


def _search(uri: str, experiment_ids: list[str] | None, filters: list[str]) -> list[dict[str, Any]]:
    """Every matching run (all pages) as ``_run_dict``, oldest first; all experiments when None."""
    client, runs, token = MlflowClient(uri), [], None
    if experiment_ids is None:
        experiment_ids = [e.experiment_id for e in client.search_experiments()]
    while True:
        page = client.search_runs(experiment_ids, " AND ".join(filters), max_results=1000,
                                  order_by=["attributes.start_time ASC"], page_token=token)
        runs += [_run_dict(r) for r in page]
        token = page.token
        if not token:
            return runs


FRAME_COLUMNS = ("run_id", "name", "experiment_id", "status", "start_time")


def search_runs(uri: str, run_ids: Sequence[str] | None = None, experiment: str | None = None,
                parent_run_id: str | None = None, filter_string: str = "") -> pd.DataFrame:
    """Runs as a DataFrame shaped like ``mlflow.search_runs``'s: one row per run, oldest first.

    Columns: ``run_id``, ``name``, ``experiment_id``, ``status``, ``start_time`` (ms since the epoch;
    present even when nothing matches), then ``metrics.<key>`` (float, NaN where a run lacks it), ``params.<key>`` and
    ``tags.<key>`` (str, NaN where absent), each group sorted by key. Read with a client bound to
    ``uri``: ``mlflow.search_runs`` itself would set the process-wide tracking URI (and the
    MLFLOW_TRACKING_URI variable) as a side effect.

    Select runs by ``run_ids`` (in every experiment; an id that cannot be a run id matches
    nothing), ``experiment`` (a name), ``parent_run_id`` (its children) and ``filter_string``
    (an MLflow filter), combined by AND; with none of them, every run of the store. Raises
    ``ExperimentNotFoundError`` / ``RunNotFoundError`` for an unknown experiment or parent, and
    MLflow's own error for a malformed filter.
    """
    experiment_ids, filters = _where(uri, experiment, filter_string, parent_run_id)
    valid = [r for r in run_ids or () if re.fullmatch(r"[0-9A-Za-z_-]+", r)]
    if valid:
        filters.append("attributes.run_id IN ({})".format(", ".join(f"'{r}'" for r in valid)))
    runs = [] if run_ids is not None and not valid else _search(uri, experiment_ids, filters)
    records = [{**{k: r[k] for k in FRAME_COLUMNS},
                **{f"{kind}.{k}": v for kind in ("metrics", "params", "tags") for k, v in r[kind].items()}}
               for r in runs]
    frame = pd.DataFrame(records, columns=None if records else list(FRAME_COLUMNS))
    return frame[[*FRAME_COLUMNS, *sorted(c for c in frame.columns if c not in FRAME_COLUMNS)]]


def download_artifact(uri: str, run_id: str, path: str, dst: Path) -> Path:
    """Copy artifact ``path`` of the run into folder ``dst``; return the local path."""
    Path(dst).mkdir(parents=True, exist_ok=True)
    return Path(MlflowClient(uri).download_artifacts(run_id, path, str(dst)))
