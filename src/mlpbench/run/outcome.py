"""What a finished run or sweep prints: its numbers within ``WIDTH`` columns and where to look next.

A run: its name, accuracies as percentages and training time on one line, then its MLflow run, as a
link to the UI when ``tracking.ui_url`` is set (or the store is a server), else the command that opens
the UI. A sweep: one row per job (its number, swept values, status, accuracies, time), then the command
that builds the sweep's report.
"""
from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Mapping, Sequence

from mlpbench.params import load_params
from mlpbench.progress import cut, percent
from mlpbench.tracking.store import DB_NAME, is_server, resolve_tracking_uri

WIDTH = 120  # columns of the terminal the lines are written for


def run_url(ui_url: str, experiment_id: str, run_id: str) -> str:
    """The run's page in the MLflow UI at ``ui_url``."""
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def ui_command(uri: str, root: Path) -> str:
    """The command that opens the MLflow UI on ``uri``: `make ui` for the project's own store."""
    if uri == f"sqlite:///{(root / DB_NAME).resolve()}":
        return "make ui"
    return f"mlflow ui --backend-store-uri {shlex.quote(uri)}"


def where_to_look(uri: str, ui_url: str | None, root: Path, experiment_id: str, run_id: str,
                  width: int = WIDTH) -> list[str]:
    """The run in MLflow: a link to its page, else the command that opens the UI (and the run's id to
    look for there; ``tracking.ui_url`` turns this into a link), on a line of its own if need be."""
    base = ui_url or (uri if is_server(uri) else None)
    if base:
        return [f"MLflow run: {run_url(base, experiment_id, run_id)}"]
    return then(f"MLflow run {run_id} (experiment {experiment_id}); to browse it:", ui_command(uri, root), width)


def then(said: str, command: str, width: int = WIDTH) -> list[str]:
    """``said command`` on one line when it fits ``width``, else the command indented on the next: a
    command (or a run's numbers) is never broken, so that it can be copied and read whole."""
    return [f"{said} {command}"] if len(said) + 1 + len(command) <= width else [said, f"  {command}"]


def cut_name(name: str, width: int) -> str:
    """A run's name cut to ``width``, keeping what sets a run apart: its leading swept values (``[...]``, a
    sweep's job; ``run.summary.run_name`` puts them first) and a trailing ``(5 seeds)`` stay whole, and the
    configuration between them is cut."""
    if len(name) <= width:
        return name
    head = name[:_swept_end(name)]
    tail = name[name.rfind(" ("):] if name.endswith(")") and " (" in name[len(head):] else ""
    room = width - len(head) - len(tail)
    if room < 8:
        return cut(name, width)
    return head + cut(name[len(head):len(name) - len(tail)], room) + tail


def _swept_end(name: str) -> int:
    """Where a leading ``[key=value ...] `` ends (values may hold brackets: ``[512,256]``); 0 without one."""
    depth = 0
    for i, char in enumerate(name):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth == 0:
            return i + 2 if i > 0 and name[i] == "]" and name[i + 1:i + 2] == " " else 0
    return 0


def numbers(summary: Mapping[str, Any]) -> str:
    """``val 98.17 % test 98.20 %, trained in 4.1 s``; a seed group's means, with the test accuracy's sd."""
    if len(summary.get("seed_runs") or {}) > 1:
        return (f"val {percent(summary['val_acc'])} test {percent(summary['test_acc'])[:-2]} ± "
                f"{summary['sd'] * 100:.2f} % (means), trained in {summary['total_s']:.1f} s per seed")
    return f"val {percent(summary['val_acc'])} test {percent(summary['test_acc'])}, trained in {summary['total_s']:.1f} s"


def run_lines(summary: Mapping[str, Any], uri: str, ui_url: str | None, root: Path, width: int = WIDTH) -> list[str]:
    """A finished run's lines: ``<name>: val 98.17 % test 98.20 %, trained in 4.1 s`` (the numbers on a
    line of their own after a long name, cut to ``width`` by ``cut_name``), then ``where_to_look``."""
    return [*then(f"{cut_name(summary['run_name'], width - 1)}:", numbers(summary), width),
            *where_to_look(uri, ui_url, root, summary["experiment_id"], summary["run_id"], width)]


def report_store(root: Path) -> str:
    """The store ``pipelines/report.py`` reads when not told: params.yaml's tracking settings."""
    try:
        track = load_params(root / "params.yaml").get("tracking") or {}
        return resolve_tracking_uri(root, track.get("uri"), server=bool(track.get("server")))
    except (FileNotFoundError, ValueError):  # ConfigError too: no store it would find
        return ""


def report_command(parent_run_id: str, uri: str, default_uri: str) -> str:
    """The command that builds a sweep's report; names the store when the report would not find it."""
    store = "" if uri == default_uri else f"MLFLOW_TRACKING_URI={shlex.quote(uri)} "
    return f"{store}python pipelines/report.py --sweep {parent_run_id}"


def sweep_table(rows: Sequence[Mapping[str, Any]], width: int = WIDTH) -> list[str]:
    """The jobs of a sweep, one a line: job number, overrides, status, val/test accuracy, training time.

    rows: ``job`` (int), ``overrides`` (str), ``status`` (str), ``val_acc``/``test_acc`` (fractions
    or None), ``time_s`` (float or None; a seed group's over all its seeds). The overrides column
    takes what ``width`` leaves.
    """
    def acc(value: float | None) -> str:
        return "-" if value is None else percent(value)

    cells = [(str(r["job"]), r["overrides"], r["status"], acc(r["val_acc"]), acc(r["test_acc"]),
              "-" if r["time_s"] is None else f"{r['time_s']:.1f} s") for r in rows]
    head = ("job", "overrides", "status", "val acc", "test acc", "trained in")
    widths = [max(len(c[i]) for c in (head, *cells)) for i in range(len(head))]
    widths[1] = max(len(head[1]), min(widths[1], width - (sum(widths) - widths[1]) - 2 * (len(head) - 1)))
    right = (True, False, False, True, True, True)

    def line(cols: Sequence[str]) -> str:
        parts = [cut(c, w).rjust(w) if r else cut(c, w).ljust(w) for c, w, r in zip(cols, widths, right)]
        return "  ".join(parts).rstrip()

    return [line(head), *(line(c) for c in cells)]


def sweep_rows(labels: Sequence[str] | None, runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``sweep_table``'s rows: one per job of ``labels`` (each job's overrides; None when the sweeper
    does not say), its run found by the tag ``sweep_job``; a job without a run is ``not started``.

    runs: the sweep's child runs as ``tracking.search_runs`` rows (``status``, ``metrics.*``, ``tags.*``).
    """
    def value(run: Mapping[str, Any], key: str) -> float | None:
        found = run.get(key)
        return None if found is None or found != found else float(found)  # NaN: the run lacks it

    by_job = {str(r.get("tags.sweep_job")): r for r in runs}
    jobs = range(len(labels)) if labels is not None else sorted(int(j) for j in by_job if j.isdigit())
    rows = []
    for job in jobs:
        run = by_job.get(str(job), {})
        seeds, took = value(run, "metrics.seeds") or 1, value(run, "metrics.time/total_s")
        status = run.get("status", "not started")
        if run.get("tags.trial_state") == "PRUNED":  # a search trial its pruner stopped: FINISHED, told apart
            status = f"PRUNED e{run.get('tags.pruned_at_epoch')}"
        rows.append({"job": job, "overrides": labels[job] if labels is not None else run.get("name", ""),
                     "status": status, "val_acc": value(run, "metrics.final/val_acc"),
                     "test_acc": value(run, "metrics.test/acc"), "time_s": None if took is None else took * seeds})
    return rows


def sweep_lines(name: str, rows: Sequence[Mapping[str, Any]], report: str, width: int = WIDTH) -> list[str]:
    """A sweep's closing lines: what ran and how it ended, its jobs' table, then the report's command."""
    done = sum(r["status"] == "FINISHED" for r in rows)
    pruned = sum(r["status"].startswith("PRUNED") for r in rows)
    also = f" ({pruned} more pruned)" if pruned else ""
    return [cut(f"{name}: {done} of {len(rows)} jobs FINISHED{also}", width), *sweep_table(rows, width),
            *then("its report:", report, width)]
