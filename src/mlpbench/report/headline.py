"""The comparison's first paragraph: which backend trains faster, by how much, at what accuracy, on which
machine and under what load, in words that follow the intervals; and the check that the two speed
measurements (the epochs of training, the step probe at each run's end) tell the same story.

Reads the per-epoch metric ``machine/load_1min`` where the runs recorded it; runs without it are said to be so.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from mlpbench import stats, tracking
from mlpbench.environment import LOAD_METRIC as LOAD
from mlpbench.options import label
from mlpbench.report import format as fmt
from mlpbench.report.runs import column
from mlpbench.report.tables import DEFAULT, measured
from mlpbench.report.uncertainty import Comparison, faster, interval_points, per_seed, wide

STEP, VAL = "time/step_median_s", "final/val_acc"
BUSY_MARGIN = 0.5  # load above the cores by more than this: other work competed with the runs
SCALING = "the scaling study's interleaved step ratio (`reports/scaling/scaling.md`)"


def step_ratio(seed_rows: pd.DataFrame, ref: str, other: str) -> stats.Estimate | None:
    """``other``'s step-probe time over ``ref``'s, paired by seed in our default; None without a pair."""
    a, b = (per_seed(seed_rows, DEFAULT, backend, STEP) for backend in (ref, other))
    shared = sorted(set(a) & set(b) - {-1})
    return stats.ratio([b[s] for s in shared], [a[s] for s in shared]) if shared else None


def timing_check(c: Comparison, step: stats.Estimate | None) -> str | None:
    """One sentence when the epoch-time ratio and the step-probe ratio point different ways, saying which to trust
    and why (neither, when the epoch ratio's interval is wide); None when they point the same way, however wide
    their intervals (which the report shows), or either is missing."""
    epoch = c.epoch_ratio
    if epoch is None or step is None or epoch.n < 2:
        return None
    if (epoch.mean > 1) == (step.mean > 1):
        return None
    a, b = label(c.ref), label(c.other)
    both = (f"The two speed measurements disagree: by the median epoch of training {faster(epoch, a, b)}; by the "
            f"step probe at each run's end {faster(step, a, b)}.")
    if wide(epoch):
        return (f"{both} Trust neither: the epoch times vary so much between seeds that the machine's load must have "
                f"changed while the runs trained; rerun on a quiet machine, or read {SCALING}.")
    return (f"{both} Trust the epoch times: each is the median of every epoch of a whole run, over {epoch.n} seeds, "
            "while the probe times a few steps (seven by default) in one short moment at each run's end, which a burst of other work "
            f"on the machine shifts (the backends' probes ran at different times); {SCALING} times the two in turn.")


def machine_load(uri: str | None, runs: pd.DataFrame) -> str:
    """The 1-minute load average over the runs' epochs (mean and max) against the CPU cores, or that the runs
    did not record it."""
    values = [v for run_id in runs["run_id"] for _, v in (tracking.metric_history(uri, run_id, LOAD) if uri else [])]
    cores = pd.to_numeric(column(runs, "tags.cpu_count"), errors="coerce").max()
    on = f" on {cores:.0f} CPU cores" if cores == cores else ""
    if not values:
        return (f"The runs did not record the machine's load (metric `{LOAD}`), so the times cannot show how busy "
                f"the machine was.")
    # A training run's own threads keep the load near the cores it uses; only half a core of work beyond
    # them (a load average moves in steps of whole runnable threads) says other work competed.
    busy = (" The machine had more work than cores at times, so some epochs waited for a CPU and the times are "
            "slower than a quiet machine's." if cores == cores and max(values) > cores + BUSY_MARGIN else "")
    return (f"Machine load while training (1-minute load average, per epoch, over {len(values)} epochs): mean "
            f"{np.mean(values):.1f}, max {max(values):.1f}{on}.{busy}")


def short_commit(tag: str) -> str:
    """A run's ``git_commit`` tag in 7 characters, keeping what "-dirty" says: the run's code held uncommitted
    changes to that commit (``mlpbench.environment``)."""
    commit, dirty, _ = tag.partition("-dirty")
    return f"{commit[:7]} with uncommitted changes" if dirty else commit[:7]


def machine(runs: pd.DataFrame, backends: Sequence[str]) -> str:
    """E.g. "AMD EPYC, 2 threads each, trained 2026-12-06, code at git commit 391f5c6"."""
    cpus = ", ".join(dict.fromkeys(fmt.text(v) for v in column(runs, "tags.cpu")))
    threads = {b: fmt.text(column(runs[runs["backend"] == b], "tags.backend_threads").iloc[0]) for b in backends}
    shown = (f"{next(iter(threads.values()))} threads each" if len(set(threads.values())) == 1 else
             ", ".join(f"{label(b)} {t} threads" for b, t in threads.items()))
    commits = ", ".join(dict.fromkeys(short_commit(fmt.text(v)) for v in column(runs, "tags.git_commit")))
    days = sorted({pd.Timestamp(ms, unit="ms", tz="UTC").strftime("%Y-%m-%d")
                   for ms in pd.to_numeric(column(runs, "start_time"), errors="coerce").dropna()})
    trained = f", trained {days[0]}{f' to {days[-1]}' if len(days) > 1 else ''} (UTC)" if days else ""
    return f"{cpus}, {shown}{trained}, code at git commit {commits}"


def accuracy(c: Comparison, seed_rows: pd.DataFrame) -> str:
    """E.g. "at the same validation accuracy within the noise (98.17 % vs 98.16 %, difference ...)"."""
    a, b = label(c.ref), label(c.other)
    means = [np.mean(list(per_seed(seed_rows, DEFAULT, x, VAL).values())) for x in (c.ref, c.other)]
    detail = (f"{a} {fmt.pct(means[0])} vs {b} {fmt.pct(means[1])}, difference {interval_points(c.val)} over "
              f"{len(c.seeds)} paired seed{'s' if len(c.seeds) != 1 else ''}")
    if c.val is None or c.val.n < 2 or c.val.covers_zero:
        return f"at the same validation accuracy within the noise ({detail})"
    return f"with {b if c.val.mean > 0 else a} the more accurate on validation ({detail})"


def headline(comparisons: Sequence[Comparison], seed_rows: pd.DataFrame, uri: str | None, title: str) -> list[str]:
    """The paragraph(s) a reader sees first; nothing when our default was not trained on two backends."""
    found = [c for c in comparisons if c.group == DEFAULT]
    if not found:
        return []
    runs = measured(seed_rows)
    runs = runs[runs["group"] == DEFAULT]
    out = []
    for c in found:
        speed = faster(c.epoch_ratio, label(c.ref), label(c.other))
        text = (f"On {title}, our default setup, median epoch time: {speed}, {accuracy(c, seed_rows)}; "
                f"{machine(runs, (c.ref, c.other))}.")
        check = timing_check(c, step_ratio(seed_rows, c.ref, c.other))
        out.append(f"{text} {check}" if check else text)
    return [*out, machine_load(uri, runs)]
