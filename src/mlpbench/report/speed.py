"""Why the backends' training speeds differ: each default run's step split into its matrix products
(GEMMs, timed alone on the run's own BLAS at the end of training) and the rest, with the BLAS named.

Reads the metrics ``time/step_median_s``, ``gemm/floor_step_s``, ``gemm/gflops``, ``gemm/share`` and
``time/overhead_step_s`` and the tag ``backend_blas`` of the runs; runs without them are left out.
"""
from __future__ import annotations

import math

import pandas as pd

from mlpbench.options import label
from typing import Sequence

from mlpbench.report import format as fmt
from mlpbench.report.render import Section
from mlpbench.report.runs import backend_rank, column
from mlpbench.report.tables import DEFAULT, Columns, measured, table

STEP, FLOOR, GFLOPS, SHARE, REST = ("time/step_median_s", "gemm/floor_step_s", "gemm/gflops", "gemm/share",
                                    "time/overhead_step_s")
BLAS = "tags.backend_blas"
COLUMNS: Columns = (
    ("backend", "backend", fmt.text), (BLAS, "BLAS", fmt.text), (STEP, "training step (median)", fmt.seconds_column),
    (FLOOR, "of which GEMMs", fmt.seconds_column), (SHARE, "GEMM share", fmt.share),
    (REST, "rest of the step", fmt.seconds_column),
    (GFLOPS, "GEMM GFLOP/s", lambda v: f"{v:,.1f}" if isinstance(v, float) and math.isfinite(v) else fmt.MISSING))
SCALING = ("How the split changes with the net's width, batch size and depth, and in float64: the scaling "
           "study (`dvc repro scaling`), which writes its table (`scaling.md`) and samples/s figures under "
           "`reports/scaling/` and records them in the MLflow experiment `mlpbench-scaling`.")


def default_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """The first measured run per backend of our default, where it recorded its step timings."""
    runs = measured(rows)
    runs = runs[(runs["group"] == DEFAULT) & column(runs, STEP).notna() & column(runs, FLOOR).notna()]
    runs = runs.drop_duplicates("backend")
    runs = runs.assign(**{SHARE: column(runs, FLOOR) / column(runs, STEP)})  # of the means beside it, as said below
    return runs.iloc[sorted(range(len(runs)), key=lambda i: backend_rank(runs["backend"].iloc[i]))]


def blas_name(run: pd.Series) -> str:
    blas = run.get(BLAS)
    return fmt.code(blas) if isinstance(blas, str) else "a BLAS the run did not record"


def split_sentence(run: pd.Series) -> str:
    """E.g. "NumPy: a step takes 12.5 ms; 9.7 ms of it (78 %) are GEMMs, run by ... at 190 GFLOP/s; ..."."""
    return (f"{label(run['backend'])}: a training step takes {fmt.seconds(run[STEP])} (median); "
            f"{fmt.seconds(run[FLOOR])} of it ({fmt.share(run[FLOOR] / run[STEP])}) is spent in the matrix "
            f"products (GEMMs), which {blas_name(run)} runs at {run[GFLOPS]:,.1f} GFLOP/s, and the other "
            f"{fmt.seconds(run[STEP] - run[FLOOR])} in everything else: bias, activations, dropout, loss, "
            "optimizer and picking the batch (op by op in the next section, where the run recorded it).")


def gap_sentence(a: pd.Series, b: pd.Series) -> str:
    """How much of the difference in step time between two runs lies in the GEMMs and how much in the rest."""
    slow, fast = (a, b) if a[STEP] >= b[STEP] else (b, a)
    gap, gemm = slow[STEP] - fast[STEP], slow[FLOOR] - fast[FLOOR]
    quick, other = (fast, slow) if fast[GFLOPS] >= slow[GFLOPS] else (slow, fast)
    return (f"In this probe, {label(slow['backend'])}'s step takes {fmt.seconds(gap)} longer than "
            f"{label(fast['backend'])}'s: {fmt.seconds(gemm)} of the difference lies in the GEMMs "
            f"({label(quick['backend'])}'s BLAS runs them {fmt.times(quick[GFLOPS] / other[GFLOPS])} as fast as "
            f"{label(other['backend'])}'s) and {fmt.seconds(gap - gemm)} in the rest of the step.")


def section(rows: pd.DataFrame, checks: Sequence[str] = ()) -> list[Section]:
    """The section (a table and sentences), or nothing when no default run recorded its step timings.

    checks: sentences saying which timing to trust where the epoch times and this step probe disagree
    (``headline.timing_check``); they come first.
    """
    runs = default_runs(rows)
    if runs.empty:
        return []
    bullets = [*checks, *(split_sentence(r) for _, r in runs.iterrows())]
    bullets += [gap_sentence(runs.iloc[0], r) for _, r in runs.iloc[1:].iterrows()]
    notes = ("Measured at the end of each default training run on a fresh copy of its model: training steps "
             "at the run's batch size and the same step's GEMMs alone (forward, weight and input gradients, "
             "with the backend's own BLAS, dtype and device), timed in turn. The GEMM time is the least a step "
             "can take with that BLAS; the rest is the backend's own work.",)
    return [Section("Why the speeds differ", table=table(runs, COLUMNS), notes=notes, bullets=(*bullets, SCALING))]
