"""Runs read back from MLflow as DataFrames: every number and curve of a report comes from here.

The run files the training stages write (``outputs.run_file``, e.g. ``metrics/numpy_run.json``) are
read for their ``run_id`` and the folder of the run's portable export (``export``), from which
``restore_runs`` imports a run the store lacks; the metrics files' numbers are never used, so a
report always shows what the tracking store recorded.
"""
from __future__ import annotations

import contextlib
import json
import urllib.parse
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from mlpbench import tracking
from mlpbench.options import BACKENDS
from mlpbench.tracking import portable, queries, restore
from mlpbench.tracking.tags import GROUP_TAG

CURVES = ("train/loss", "val/loss", "train/acc", "val/acc")


class ReportError(RuntimeError):
    """The runs a report was asked for cannot be found or read."""


def read_run_ids(run_files: Sequence[Path]) -> list[str]:
    """The runs each run file names for a report: each seed's run of a seed group (``seed_runs``, in seed
    order), else its ``run_id`` (nothing else is read from them)."""
    ids = []
    for path in map(Path, run_files):
        if not path.is_file():
            raise ReportError(f"run file {path} not found; it is written by the training stages: "
                              "run `dvc repro` (or pipelines/train.py) first, or name existing files")
        try:
            content = json.loads(path.read_text())
            run_id, seed_runs = content.get("run_id"), content.get("seed_runs") or {}
        except (json.JSONDecodeError, AttributeError) as err:
            raise ReportError(f"run file {path} is not a JSON object ({err}); rerun its training stage") from err
        if not isinstance(run_id, str) or not run_id:
            raise ReportError(f"{path} has no 'run_id'; name a run file (outputs.run_file, e.g. "
                              "metrics/numpy_run.json), not a metrics file, or rerun its training stage")
        if not isinstance(seed_runs, dict) or not all(str(k).isdigit() and isinstance(v, str) and v
                                                      for k, v in seed_runs.items()):
            raise ReportError(f"{path}: 'seed_runs' must map each seed to a run id; rerun its training stage")
        ids += [seed_runs[k] for k in sorted(seed_runs, key=int)] if seed_runs else [run_id]
    return ids


def export_folder(run_file: Path) -> Path | None:
    """The folder of the run export a run file names (``export``, relative to the file's folder), or None."""
    try:
        export = json.loads(Path(run_file).read_text()).get("export")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None  # read_run_ids and read_study say what is wrong with the file
    return (Path(run_file).parent / export) if isinstance(export, str) and export else None


def restore_runs(uri: str, run_files: Sequence[Path]) -> tuple[dict[str, str], int]:
    """Import into ``uri`` the runs of the run files' exports that it lacks (``tracking.restore``).

    Returns (original run id -> its id in the store; how many runs were imported). An export that is
    not there is passed over: ``load_runs`` then names the runs the store lacks and the stages to rebuild.
    """
    folders = [f for f in map(export_folder, run_files) if f is not None and f.is_dir()]
    try:
        return restore.restore(uri, folders, only=named_run_ids(run_files))
    except portable.ExportError as err:
        raise ReportError(f"{err}; {rebuild_hint(run_files)}") from err


def named_run_ids(run_files: Sequence[Path]) -> set[str]:
    """Every run id a run file names: ``run_id``, its ``seed_runs``, or each of a study's ``runs``; unreadable
    files name none."""
    ids: set[str] = set()
    for path in run_files:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            content = json.loads(Path(path).read_text())
            named = [content.get("run_id"), *(content.get("seed_runs") or {}).values(),
                     *(content.get("runs") or {}).values()]
            ids.update(v for v in named if isinstance(v, str))
    return ids


def rebuild_hint(run_files: Sequence[Path]) -> str:
    """What rebuilds the runs of ``run_files``: ``dvc repro -s -f <stage> ...`` for the DVC stages that write them."""
    stages = stages_writing(run_files)
    if not stages:
        return ("rerun the training that wrote those run files, or point MLFLOW_TRACKING_URI / tracking.uri at "
                "the store that holds the runs")
    return ("rebuild the stage(s) that made those runs, without touching the data stages: "
            + "; ".join(f"dvc repro -s -f {stage}" for stage in stages))


def stages_writing(paths: Sequence[Path]) -> list[str]:
    """The DVC stages (``train@numpy``, ``torch_options``) whose outputs include ``paths``; [] outside a DVC repo."""
    wanted = {Path(p).resolve() for p in paths}
    if not wanted:
        return []
    try:
        from dvc.repo import Repo

        with Repo(str(Path(next(iter(wanted))).parent)) as repo:
            return [stage.addressing for stage in repo.index.stages
                    if any(Path(out.fs_path).resolve() in wanted for out in stage.outs)]
    except Exception:  # not in a DVC repository, or dvc.yaml unreadable: no stage to name
        return []


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


def load_runs(uri: str, run_ids: Sequence[str], sources: Sequence[Path] = ()) -> pd.DataFrame:
    """The runs (``tidy``); one ``ReportError`` naming every id that is not in the store.

    sources: the run files that name ``run_ids``, for the error's hint (which stages rebuild them).
    """
    if not run_ids:
        raise ReportError("no run ids to report on; name the metrics files of the training runs")
    frame = queries.search_runs(uri, run_ids=list(run_ids))
    missing = [r for r in dict.fromkeys(run_ids) if r not in set(frame["run_id"])]
    if missing:
        raise ReportError(
            f"run(s) {', '.join(missing)} not found in the MLflow tracking store {uri} nor in a run "
            f"export beside their run files; {rebuild_hint(sources)}")
    return tidy(frame)


def display_uri(uri: str) -> str:
    """The store as a report shows it: a SQLite file by its name alone (no machine's path), a server without
    credentials."""
    prefix = "sqlite:///"
    if uri.startswith(prefix):
        return f"{prefix}{Path(uri[len(prefix):]).name}"
    parts = urllib.parse.urlsplit(uri)
    return parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl() \
        if parts.hostname else uri


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


def seed_run_ids(uri: str, run: pd.Series) -> list[str]:
    """The finished seed runs of the seed group a run (``tidy``'s row) belongs to, the run's own id first;
    only the run itself when it is no seed run of a group."""
    parent = run.get("tags.mlflow.parentRunId")
    if run.get(f"tags.{GROUP_TAG}") != "seed" or not isinstance(parent, str):
        return [run["run_id"]]
    members = tidy(queries.search_runs(uri, parent_run_id=parent))
    members = members[(members["status"] == "FINISHED") & (members["run_id"] != run["run_id"])]
    return [run["run_id"], *members["run_id"]]


def seed_values(uri: str, runs: pd.DataFrame, keys: Sequence[str]) -> dict[str, dict[int, dict[str, float]]]:
    """Run id -> seed -> ``keys``' values, for each of ``runs`` (``tidy``): a seed group's parent (tag
    ``mlpbench.seed_group=group``) by its finished seed runs, any other run by its own seed and values."""
    out: dict[str, dict[int, dict[str, float]]] = {}
    for _, run in runs.iterrows():
        members = pd.DataFrame([run])
        if run.get(f"tags.{GROUP_TAG}") == "group":
            members = tidy(queries.search_runs(uri, parent_run_id=run["run_id"]))
            members = members[members["status"] == "FINISHED"]
        found: dict[int, dict[str, float]] = {}
        for _, member in members.iterrows():
            seed = member.get("params.train.seed")
            if isinstance(seed, str) and seed.isdigit():
                found[int(seed)] = {key: float(member.get(key, float("nan"))) for key in keys}
        out[run["run_id"]] = found
    return out
