"""The sweep report: every configuration of a sweep over its seeds, and its metrics against each swept parameter.

A configuration is a set of params other than the seed: its seeds are those of a seed group (a job run
with ``train.seeds`` above 1) or of separate runs that differ only in ``train.seed`` (a sweep over
``train.seed=0,1,2``). Each table row and plotted point is a configuration's mean over its seeds, with the
95 % interval (``mlpbench.stats``) where it has two or more; a configuration of one seed is marked so.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from mlpbench import figures, stats
from mlpbench.options import label
from mlpbench.report import dataset, tables
from mlpbench.report import format as fmt
from mlpbench.report.render import Figure, ReportFiles, Section, figure_dir, log, write
from mlpbench.report.runs import ReportError, backend_rank, column, load_sweep, seed_values
from mlpbench.tracking.tags import GROUP_TAG

PLOTTED = (("val", "validation accuracy (%)", "val_acc", 100.0),
           ("epoch", "median epoch time (s)", "epoch_time", 1.0))
# Params that say where and how a run executed, not what it trained: never treated as swept.
MACHINE_KEYS = frozenset({"train.threads", "train.device", "train.eval_batch_size"})
SEED_KEYS = frozenset({"train.seed", "train.seeds"})  # a configuration's seeds are pooled, never swept
DATASET_KEYS = frozenset({"data.name"})  # one data set per report (report.dataset): never swept
VAL, TEST, EPOCH = "final/val_acc", "test/acc", "time/epoch_median_s"
NOT_FINISHED: tables.Columns = (("name", "run name", fmt.text), ("backend", "backend", fmt.text),
                                ("status", "status", fmt.text), ("reason", "error / killed reason", fmt.text),
                                ("ref", "MLflow run", fmt.text))
RESULTS: tables.Columns = (
    ("seeds", "seeds", fmt.text), ("val", "val acc ± 95 % CI", fmt.estimate_pct),
    ("test", "test acc ± 95 % CI", fmt.estimate_pct), ("epoch", "median epoch", fmt.estimate_seconds),
    ("ref", "MLflow run", fmt.text))


class MixedPresetsError(ReportError):
    """An experiment-wide selection holds runs of more than one preset."""


def swept_params(runs: pd.DataFrame) -> list[str]:
    """Params (without ``params.``) that every run logs and whose value differs among them, by name,
    ``backend`` first.

    A param only some runs log (``torch.*`` of torch's runs beside NumPy's, an optimizer's own keys) is
    not swept. ``MACHINE_KEYS`` (threads, device, ...) never count: they change how fast a run is, not
    what it is; nor do the seeds or the data set (``DATASET_KEYS``).
    """
    keys = [c.removeprefix("params.") for c in runs.columns if c.startswith("params.")
            and c.removeprefix("params.") not in MACHINE_KEYS | SEED_KEYS | DATASET_KEYS
            and runs[c].notna().all() and runs[c].nunique() > 1]
    return sorted(keys, key=lambda k: (k != "backend", k))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def sort_key(value: Any) -> tuple[int, tuple[float, ...] | str]:
    """Numbers (params are recorded as text), then lists of numbers (``[64]``, ``[32, 16]``)
    element-wise by value, then other values by text."""
    text = str(value).strip()
    if (number := _number(text)) is not None:
        return (0, (number,))
    if text.startswith("[") and text.endswith("]"):
        items = [_number(v) for v in text[1:-1].split(",") if v.strip()]
        if all(v is not None for v in items):
            return (1, tuple(items))
    return (2, text)


def finished_only(runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(FINISHED runs, the others): only finished runs are compared; the others are listed apart."""
    done = runs["status"] == "FINISHED"
    return runs[done], runs[~done]


def not_finished_table(runs: pd.DataFrame, ui_url: str | None) -> pd.DataFrame:
    reason = column(runs, "tags.error").fillna(column(runs, "tags.killed_reason"))
    refs = [fmt.run_ref(ui_url, e, r) for e, r in zip(runs["experiment_id"], runs["run_id"])]
    return tables.table(runs.assign(reason=reason, ref=refs), NOT_FINISHED)


def configurations(runs: pd.DataFrame, uri: str) -> pd.DataFrame:
    """One row per configuration (the runs' params, seeds and machine keys aside), in first-run order:
    the first run's columns, ``seeds`` (how many, "1 (no interval)" for one), ``val``/``test``/``epoch``
    (``stats.Estimate`` over the seeds) and ``run_ids`` (every run pooled into it)."""
    per_run = seed_values(uri, runs, (VAL, TEST, EPOCH))
    keys = sorted(c for c in runs.columns if c.startswith("params.")
                  and c.removeprefix("params.") not in MACHINE_KEYS | SEED_KEYS)
    out: dict[tuple, dict] = {}
    for _, run in runs.iterrows():
        key = (run["backend"], *(fmt.text(run.get(k)) for k in keys))
        row = out.setdefault(key, {**run.to_dict(), "run_ids": [], "values": {}})
        row["run_ids"].append(run["run_id"])
        for seed, values in per_run.get(run["run_id"], {}).items():
            row["values"].setdefault(seed, values)
    rows = []
    for row in out.values():
        values = list(row.pop("values").values())
        estimates = {name: stats.over_seeds([v[key] for v in values]) if values else None
                     for name, key in (("val", VAL), ("test", TEST), ("epoch", EPOCH))}
        n = len(values)
        rows.append({**row, **estimates, "seeds": f"{n}" if n > 1 else f"{n} (no interval)"})
    return pd.DataFrame(rows)


def check_presets(runs: pd.DataFrame, experiment: str | None, mixed_presets: bool) -> None:
    """Refuse an experiment-wide selection mixing presets unless ``mixed_presets``."""
    presets = sorted(set(runs["preset"]))
    if experiment is None or mixed_presets or len(presets) < 2:
        return
    raise MixedPresetsError(
        f"experiment {experiment!r} selection mixes presets {', '.join(presets)}; narrow it with "
        f"--filter \"params.preset = '{presets[0]}'\" or pass --mixed-presets to compare them anyway")


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")


def report_stem(parent: Mapping[str, Any] | None, parent_run_id: str | None, experiment: str | None,
                filter_string: str) -> str:
    """``sweep_<parent id[:8]>_<sweep name>`` or ``experiment_<name>[_<filter slug>_<hash>]``."""
    if parent_run_id:
        name = slug(str(parent["name"])) if parent and parent.get("name") else ""
        return "_".join(p for p in ("sweep", parent_run_id[:8], name[:40]) if p)
    stem = f"experiment_{slug(str(experiment))}"
    if filter_string:
        digest = hashlib.sha256(filter_string.encode()).hexdigest()[:8]
        stem += f"_{slug(filter_string)[:40]}_{digest}"
    return stem


def runs_table(runs: pd.DataFrame, params: list[str], ui_url: str | None) -> pd.DataFrame:
    """One row per configuration (``configurations``); its runs linked (the first, then how many more)."""
    keys = [f"params.{p}" for p in params]
    order = sorted(runs.index, key=lambda i: (backend_rank(runs.at[i, "backend"]),
                                              *(sort_key(runs.at[i, k]) for k in keys), runs.at[i, "name"]))
    runs = runs.loc[order]
    refs = [fmt.run_ref(ui_url, e, ids[0]) + (f" and {len(ids) - 1} more" if len(ids) > 1 else "")
            for e, ids in zip(runs["experiment_id"], runs["run_ids"])]
    columns = (("name", "run name", fmt.text), ("backend", "backend", fmt.text),
               *((k, p, fmt.text) for k, p in zip(keys, params)), *RESULTS)
    return tables.table(runs.assign(ref=refs), columns)


def series(runs: pd.DataFrame, param: str, metric: str, scale: float) -> dict[str, list[tuple]]:
    """Backend label -> [(param value, mean, low, high) of ``metric`` (an Estimate column) x ``scale``]: over
    the seeds of the configurations with that value (pooled when several configurations share it)."""
    out: dict[str, list[tuple]] = {}
    frame = runs.dropna(subset=[f"params.{param}"])
    groups = frame.groupby(["backend", f"params.{param}"])[metric]
    for (backend, value), estimates in sorted(groups, key=lambda p: (backend_rank(p[0][0]), sort_key(p[0][1]))):
        found = [e for e in estimates if isinstance(e, stats.Estimate)]
        if not found:
            continue
        e = found[0] if len(found) == 1 else stats.over_seeds([f.mean for f in found])
        out.setdefault(label(backend), []).append((value, scale * e.mean, scale * e.low, scale * e.high))
    return out


def make_figures(runs: pd.DataFrame, params: list[str], folder: Path) -> list[Figure]:
    """Each plotted metric against each swept param (``backend`` aside), one line per backend."""
    def order(param: str) -> list[str]:
        return sorted(set(runs[f"params.{param}"].dropna()), key=sort_key)

    return [Figure(figures.against_param(series(runs, param, metric, scale), folder / f"{short}_{slug(param)}.png",
                                         xlabel=param, ylabel=name, order=order(param)),
                   f"{name} against {param}, one line per backend (each its own marker, nudged sideways so "
                   "equal values stay visible); each point is the mean over the seeds of the configuration with "
                   "that value, its bar the 95 % interval (none for one seed).")
            for param in params for metric, name, short, scale in PLOTTED]


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
                filter_string: str = "", ui_url: str | None = None, log_to_mlflow: bool = True,
                mixed_presets: bool = False) -> ReportFiles:
    """Build ``out_dir/<stem>.{md,html}`` (``report_stem``) from a sweep's FINISHED runs.

    Give ``parent_run_id`` (its child runs) or ``experiment`` (its runs, optionally narrowed by an
    MLflow ``filter_string``). Runs that did not finish are listed apart, never compared. Raises
    ``ReportError`` naming what was looked for when nothing is found, ``MixedPresetsError`` for
    an experiment-wide selection of several presets unless ``mixed_presets``, and ``MixedDatasetsError``
    for finished runs of several data sets; both before any file is written.
    """
    if not parent_run_id and not experiment:
        raise ValueError("build_sweep needs parent_run_id or experiment")
    parent, every = load_sweep(uri, parent_run_id, experiment, filter_string)
    every = every[column(every, f"tags.{GROUP_TAG}") != "seed"]  # a seed's run counts through its group's parent
    runs, others = finished_only(every)
    if runs.empty:
        raise ReportError(f"none of the {len(every)} selected runs FINISHED (statuses: "
                          f"{', '.join(sorted(set(every['status'])))}); rerun them, or select finished runs")
    check_presets(runs, None if parent_run_id else experiment, mixed_presets)
    data = dataset.of(runs, dataset.filter_fix(runs))
    stem = report_stem(parent, parent_run_id, experiment, filter_string)
    swept = swept_params(runs)
    params = [k for k in swept if k != "backend"]
    configs = configurations(runs, uri)
    counts = (f"{len(every)} runs, {len(runs)} finished (only these are compared), {len(configs)} configurations. "
              f"Swept parameters: {', '.join(swept) if swept else 'none (all runs share their params)'}. Each row "
              "is a configuration's mean over its seeds, with its 95 % interval where it has two or more.")
    only_backend = "Only the backend varies among these runs; the table above is the whole comparison."
    body = [Section("Runs", table=runs_table(configs, params, ui_url)),
            *([Section("Runs that did not finish", table=not_finished_table(others, ui_url))] if len(others) else []),
            Section("Against each swept parameter", text=() if params else (only_backend,),
                    figures=tuple(make_figures(configs, params, figure_dir(out_dir, stem)))),
            Section("Environment", table=tables.environment(runs))]
    files = write(f"Sweep report: {parent['name'] if parent else experiment} on {data.title}",
                  [scope(parent, experiment, filter_string, uri, ui_url), counts], body, out_dir, stem)
    if not log_to_mlflow:
        return files
    tags = {"report_kind": "sweep", "report_runs": ",".join(runs["run_id"])}
    tags |= {"report_parent_run_id": parent_run_id} if parent_run_id else {"report_experiment": str(experiment)}
    summarised = [*([parent_run_id] if parent_run_id else []), *runs["run_id"]]
    return log(files, uri, parent["experiment_id"] if parent else every["experiment_id"].iloc[0], f"report {stem}", tags,
               summarised)
