"""The sweep report: every run of a sweep, and its metrics against each swept parameter."""
from __future__ import annotations

import re
import statistics
from pathlib import Path
from typing import Any, Mapping, Sequence

from mlpbench import figures
from mlpbench.report import format as fmt
from mlpbench.report import tables
from mlpbench.report.collect import RunData, load_sweep
from mlpbench.report.document import Block, Code, Figure, Heading, Inline, Paragraph, Table
from mlpbench.report.output import ReportFiles, figure_dir, log, write

PLOTTED = (("final/val_acc", "validation accuracy (%)", "val_acc", 100.0),
           ("time/epoch_median_s", "median epoch time (s)", "epoch_time", 1.0))


def swept_params(runs: Sequence[RunData]) -> list[str]:
    """Params whose value differs among the runs, sorted by name (``backend`` first)."""
    keys = sorted({k for r in runs for k in r.params})
    varying = [k for k in keys if len({r.params.get(k) for r in runs}) > 1]
    return sorted(varying, key=lambda k: (k != "backend", k))


def _sort_key(value: str) -> tuple[int, Any]:
    number = fmt.number(value)
    return (0, number) if isinstance(number, (int, float)) else (1, str(number))


def runs_table(runs: Sequence[RunData], swept: Sequence[str], ui_url: str | None) -> Table:
    cols = [k for k in swept if k != "backend"]
    ordered = sorted(runs, key=lambda r: (r.backend, *(_sort_key(r.params.get(k, "")) for k in cols), r.name))
    body: list[tuple[Inline, ...]] = []
    for r in ordered:
        m = r.metrics
        body.append((r.name, r.backend, *(r.params.get(k, fmt.MISSING) for k in cols), r.status,
                     fmt.pct(m.get("final/val_acc")), fmt.pct(m.get("test/acc")),
                     fmt.seconds(m.get("time/epoch_median_s")), fmt.run_ref(ui_url, r.experiment_id, r.run_id)))
    header = ("run name", "backend", *cols, "status", "val acc", "test acc", "median epoch", "MLflow run")
    return Table(header, tuple(body), align="l" * (3 + len(cols)) + "rrrl")


def series(runs: Sequence[RunData], param: str, metric: str, scale: float = 1.0) -> dict[str, list[tuple[Any, float]]]:
    """backend -> [(param value, mean of ``metric`` x ``scale`` over the runs with that value)]."""
    groups: dict[str, dict[Any, list[float]]] = {}
    for r in runs:
        if metric in r.metrics and param in r.params:
            groups.setdefault(r.backend, {}).setdefault(fmt.number(r.params[param]), []).append(scale * r.metrics[metric])
    return {b: [(x, statistics.fmean(v)) for x, v in sorted(points.items(), key=lambda p: _sort_key(str(p[0])))]
            for b, points in sorted(groups.items())}


def make_figures(runs: Sequence[RunData], swept: Sequence[str], folder: Path) -> list[Block]:
    params = [k for k in swept if k != "backend"]
    if not params:
        return [Paragraph("Only the backend varies among these runs; the table above is the whole comparison.")]
    out: list[Block] = []
    for param in params:
        for metric, label, slug, scale in PLOTTED:
            path = folder / f"{slug}_{re.sub(r'[^A-Za-z0-9]+', '_', param)}.png"
            figures.against_param(series(runs, param, metric, scale), path, xlabel=param, ylabel=label)
            out.append(Figure(path, f"{label} against {param}, one line per backend; each point is the mean "
                                    "over the runs with that value."))
    return out


def _scope(parent: Mapping[str, Any] | None, experiment: str | None, filter_string: str,
           uri: str, ui_url: str | None) -> Inline:
    if parent is not None:
        overrides = parent["tags"].get("sweep_overrides", fmt.MISSING)
        return ("Child runs of the sweep parent run ", fmt.run_ref(ui_url, parent["experiment_id"], parent["run_id"]),
                f" ({parent['name']}, status {parent['status']}; overrides ", Code(overrides), ") in ", Code(uri), ".")
    where = (", filter ", Code(filter_string)) if filter_string else ()
    return ("Runs of experiment ", Code(str(experiment)), *where, " in ", Code(uri),
            " (report runs and sweep parents left out).")


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
    finished = sum(r.status == "FINISHED" for r in runs)
    title = f"Sweep report: {parent['name'] if parent else experiment}"
    body: list[Block] = [
        Heading(1, title), Paragraph(_scope(parent, experiment, filter_string, uri, ui_url)),
        Paragraph(f"{len(runs)} runs, {finished} finished. Swept parameters: "
                  f"{', '.join(swept) if swept else 'none (all runs share their params)'}."),
        Heading(2, "Runs"), runs_table(runs, swept, ui_url),
        Heading(2, "Against each swept parameter"), *make_figures(runs, swept, figure_dir(out_dir, stem)),
        Heading(2, "Environment"), tables.environment(list(runs)),
    ]
    files = write(body, out_dir, stem, title)
    if not log_to_mlflow:
        return files
    tags = {"report_kind": "sweep", "report_runs": ",".join(r.run_id for r in runs)}
    tags |= {"report_parent_run_id": parent_run_id} if parent_run_id else {"report_experiment": str(experiment)}
    return log(files, uri, parent["experiment_id"] if parent else runs[0].experiment_id, f"report {stem}", tags)
