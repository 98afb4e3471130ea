"""The sweep report: every run of a sweep, and its metrics against each swept parameter."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from mlpbench import figures
from mlpbench.backends import label
from mlpbench.report import format as fmt
from mlpbench.report import tables
from mlpbench.report.render import Figure, ReportFiles, Section, figure_dir, log, write
from mlpbench.report.runs import backend_rank, load_sweep

PLOTTED = (("final/val_acc", "validation accuracy (%)", "val_acc", 100.0),
           ("time/epoch_median_s", "median epoch time (s)", "epoch_time", 1.0))
RESULTS: tables.Columns = (
    ("status", "status", fmt.text), ("final/val_acc", "val acc", fmt.pct), ("test/acc", "test acc", fmt.pct),
    ("time/epoch_median_s", "median epoch", fmt.seconds), ("ref", "MLflow run", fmt.text))


def swept_params(runs: pd.DataFrame) -> list[str]:
    """Params (without ``params.``) whose value differs among the runs, by name, ``backend`` first."""
    keys = [c.removeprefix("params.") for c in runs.columns
            if c.startswith("params.") and runs[c].nunique(dropna=False) > 1]
    return sorted(keys, key=lambda k: (k != "backend", k))


def sort_key(value: Any) -> tuple[int, float | str]:
    """Numbers (params are recorded as text) in numeric order, then other values by text."""
    try:
        return (0, float(value))
    except (TypeError, ValueError):
        return (1, str(value))


def runs_table(runs: pd.DataFrame, params: list[str], ui_url: str | None) -> pd.DataFrame:
    keys = [f"params.{p}" for p in params]
    order = sorted(runs.index, key=lambda i: (backend_rank(runs.at[i, "backend"]),
                                              *(sort_key(runs.at[i, k]) for k in keys), runs.at[i, "name"]))
    runs = runs.loc[order]
    refs = [fmt.run_ref(ui_url, e, r) for e, r in zip(runs["experiment_id"], runs["run_id"])]
    columns = (("name", "run name", fmt.text), ("backend", "backend", fmt.text),
               *((k, p, fmt.text) for k, p in zip(keys, params)), *RESULTS)
    return tables.table(runs.assign(ref=refs), columns)


def series(runs: pd.DataFrame, param: str, metric: str, scale: float) -> dict[str, list[tuple[str, float]]]:
    """Backend label -> [(param value, mean of ``metric`` x ``scale`` over the runs with that value)]."""
    if metric not in runs:
        return {}
    means = runs.dropna(subset=[f"params.{param}", metric]).groupby(["backend", f"params.{param}"])[metric].mean()
    out: dict[str, list[tuple[str, float]]] = {}
    for (backend, value), mean in sorted(means.items(), key=lambda p: (backend_rank(p[0][0]), sort_key(p[0][1]))):
        out.setdefault(label(backend), []).append((value, scale * mean))
    return out


def make_figures(runs: pd.DataFrame, params: list[str], folder: Path) -> list[Figure]:
    """Each plotted metric against each swept param (``backend`` aside), one line per backend."""
    return [Figure(figures.against_param(series(runs, param, metric, scale),
                                         folder / f"{slug}_{re.sub(r'[^A-Za-z0-9]+', '_', param)}.png",
                                         xlabel=param, ylabel=name),
                   f"{name} against {param}, one line per backend; each point is the mean over the runs with "
                   "that value.")
            for param in params for metric, name, slug, scale in PLOTTED]


def scope(parent: Mapping[str, Any] | None, experiment: str | None, filter_string: str, uri: str,
          ui_url: str | None) -> str:
    """Which runs the report covers, in one sentence."""
    if parent is not None:
        overrides = parent["tags"].get("sweep_overrides", fmt.MISSING)
        return (f"Child runs of the sweep parent run {fmt.run_ref(ui_url, parent['experiment_id'], parent['run_id'])} "
                f"({parent['name']}, status {parent['status']}; overrides {fmt.code(overrides)}) in {fmt.code(uri)}.")
    where = f", filter {fmt.code(filter_string)}" if filter_string else ""
    return (f"Runs of experiment {fmt.code(str(experiment))}{where} in {fmt.code(uri)} "
            "(report runs and sweep parents left out).")


def build_sweep(uri: str, out_dir: Path, parent_run_id: str | None = None, experiment: str | None = None,
                filter_string: str = "", ui_url: str | None = None, log_to_mlflow: bool = True) -> ReportFiles:
    """Build ``out_dir/sweep_<parent id or experiment>.{md,html}`` from a sweep's runs.

    Give ``parent_run_id`` (its child runs) or ``experiment`` (its runs, optionally narrowed by an
    MLflow ``filter_string``). Raises ``ReportError`` naming what was looked for when nothing is found.
    """
    if not parent_run_id and not experiment:
        raise ValueError("build_sweep needs parent_run_id or experiment")
    parent, runs = load_sweep(uri, parent_run_id, experiment, filter_string)
    stem = "sweep_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", parent_run_id or str(experiment))
    swept = swept_params(runs)
    params = [k for k in swept if k != "backend"]
    counts = (f"{len(runs)} runs, {(runs['status'] == 'FINISHED').sum()} finished. Swept parameters: "
              f"{', '.join(swept) if swept else 'none (all runs share their params)'}.")
    only_backend = "Only the backend varies among these runs; the table above is the whole comparison."
    body = [Section("Runs", table=runs_table(runs, params, ui_url)),
            Section("Against each swept parameter", text=() if params else (only_backend,),
                    figures=tuple(make_figures(runs, params, figure_dir(out_dir, stem)))),
            Section("Environment", table=tables.environment(runs))]
    files = write(f"Sweep report: {parent['name'] if parent else experiment}",
                  [scope(parent, experiment, filter_string, uri, ui_url), counts], body, out_dir, stem)
    if not log_to_mlflow:
        return files
    tags = {"report_kind": "sweep", "report_runs": ",".join(runs["run_id"])}
    tags |= {"report_parent_run_id": parent_run_id} if parent_run_id else {"report_experiment": str(experiment)}
    return log(files, uri, parent["experiment_id"] if parent else runs["experiment_id"].iloc[0], f"report {stem}", tags)
