"""Each backend's training step op by op: the default runs' op attribution (``attribution/<group>_ms``, see
``mlpbench.training.attribution``) as one table, a stacked bar per backend and the sentences that say which
costs outside the GEMMs make the difference between the backends' steps.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from mlpbench import figures
from mlpbench.options import label
from mlpbench.report import format as fmt
from mlpbench.report.render import Figure, Section
from mlpbench.report.runs import backend_rank, column
from mlpbench.report.tables import DEFAULT, measured
from mlpbench.op_groups import COVERAGE_METRIC, GROUPS, LABELS, METRIC, STEP_METRIC, largest

NOTES = ("Measured at the end of each default training run on a fresh copy of its model, at the run's batch size: "
         "blocks of 3 training steps under each backend's instruments (PyTorch: torch.profiler, each operator's own "
         "CPU time put into a group by its name and the operators and ranges it runs inside; NumPy: timers around "
         "its layers' forward and backward, the dropout masks' random draws, the loss, the optimizer and the batch "
         "gather), 21 rounds, each in turn with 3 plain steps (which comes first alternates). "
         "Framework overhead is what the instrumented step's wall time holds beyond every timed operator: the time "
         "between operators (Python, dispatch, autograd's engine), ops that only make views or allocate, and the "
         "instruments' own cost. The groups are those of the round whose instrumented step is the median; the "
         "last row is the median over the rounds of the instrumented step over the plain one timed just before it "
         "(1.00: the groups account for the plain step). The raw profile of each run is its MLflow artifact "
         "`attribution/ops.json`.",
         *(f"{LABELS[g]}: {text.split(': ', 1)[1]}." for g, text in GROUPS.items()))


def default_runs(rows: pd.DataFrame) -> pd.DataFrame:
    """The first measured default run per backend that recorded its attribution, in registry order."""
    runs = measured(rows)
    runs = runs[(runs["group"] == DEFAULT) & column(runs, METRIC.format("gemm")).notna()].drop_duplicates("backend")
    return runs.iloc[sorted(range(len(runs)), key=lambda i: backend_rank(runs["backend"].iloc[i]))]


def group_ms(run: pd.Series) -> dict[str, float]:
    return {g: float(run.get(METRIC.format(g), 0.0)) for g in GROUPS}


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per group, one column (ms per step) per backend, the difference to the first backend, then the
    sum, the plain step and their ratio."""
    names = [label(b) for b in runs["backend"]]
    ms = [group_ms(r) for _, r in runs.iterrows()]
    out: dict[str, list[str]] = {"group": [LABELS[g] for g in GROUPS] + ["sum of the groups", "plain step",
                                                                         "sum / plain step (paired rounds)"]}
    for name, values, (_, run) in zip(names, ms, runs.iterrows()):
        total = sum(values.values())
        coverage = run.get(COVERAGE_METRIC, float("nan"))
        coverage = coverage if coverage == coverage else total / run[STEP_METRIC]
        out[f"{name} (ms)"] = ([f"{values[g]:.2f}" for g in GROUPS] +
                               [f"{total:.2f}", f"{run[STEP_METRIC]:.2f}", f"{coverage:.2f}"])
    for name, values in zip(names[1:], ms[1:]):
        diff = {g: values[g] - ms[0][g] for g in GROUPS}
        out[f"{name} − {names[0]} (ms)"] = [f"{diff[g]:+.2f}" for g in GROUPS] + [
            f"{sum(diff.values()):+.2f}", f"{runs.iloc[1][STEP_METRIC] - runs.iloc[0][STEP_METRIC]:+.2f}", ""]
    return pd.DataFrame(out)


def largest_sentence(run: pd.Series) -> str:
    """E.g. "PyTorch: GEMMs 10.2 ms of a 18.1 ms instrumented step (...); the largest costs besides them are ..."."""
    ms = group_ms(run)
    parts = ", ".join(f"{LABELS[g]} {ms[g]:.2f} ms" for g in largest(ms))
    return (f"{label(run['backend'])}: GEMMs {ms['gemm']:.2f} ms of a {sum(ms.values()):.2f} ms instrumented step "
            f"(plain step {run[STEP_METRIC]:.2f} ms); the largest costs besides them are {parts}.")


def gap_sentence(a: pd.Series, b: pd.Series) -> str:
    """Which groups make the difference between two backends' steps, largest first, in ms of the gap."""
    slow, fast = (a, b) if sum(group_ms(a).values()) >= sum(group_ms(b).values()) else (b, a)
    s_ms, f_ms = group_ms(slow), group_ms(fast)
    diff = {g: s_ms[g] - f_ms[g] for g in GROUPS}
    gap = sum(diff.values())
    top = sorted((g for g in GROUPS if g != "gemm"), key=lambda g: -diff[g])[:3]
    parts = "; ".join(f"{LABELS[g]} {diff[g]:+.2f} ms, {fmt.share(diff[g] / gap)} of the gap ({label(slow['backend'])} "
                      f"{s_ms[g]:.2f}, {label(fast['backend'])} {f_ms[g]:.2f})" for g in top)
    return (f"{label(slow['backend'])}'s instrumented step takes {gap:.2f} ms longer than {label(fast['backend'])}'s "
            f"({slow[STEP_METRIC] - fast[STEP_METRIC]:.2f} ms between the plain steps); the GEMMs account for "
            f"{diff['gemm']:+.2f} ms of it, and of the rest the three groups that differ most: {parts}.")


TRICKS = ("What the NumPy backend does that PyTorch as commonly written does not: its dropout masks take two random "
          "bits per element (one 64-bit draw per 32 elements, where nn.Dropout's bernoulli_ draws per element), which "
          "the dropout RNG row shows; ReLU and dropout share one mask applied in place; its first layer's bias rides "
          "in the GEMMs (a column of ones), so neither addmm's copy of the bias (in PyTorch's GEMM row) nor that "
          "layer's bias gradient (in its backward element-wise row) has a counterpart; and all parameters are one "
          "array, so the optimizer is a few whole-array passes (the optimizer row). The torch options study's "
          "'PyTorch tuned' variant writes the PyTorch step with the same tricks and measures what they are worth "
          "in PyTorch.")


def section(rows: pd.DataFrame, folder: Path) -> list[Section]:
    """The section, or nothing when no default run recorded its attribution."""
    runs = default_runs(rows)
    if runs.empty:
        return []
    bullets = [largest_sentence(r) for _, r in runs.iterrows()]
    bullets += [gap_sentence(runs.iloc[0], r) for _, r in runs.iloc[1:].iterrows()]
    bars = {label(r["backend"]): {LABELS[g]: v for g, v in group_ms(r).items()} for _, r in runs.iterrows()}
    path = figures.stacked_bars(bars, folder / "step_attribution.png", "ms per training step",
                                title="Where a training step's time goes (default configuration)")
    return [Section("The step op by op", table=table(runs), notes=NOTES, bullets=(*bullets, TRICKS),
                    figures=(Figure(path, "One bar per backend: its instrumented training step split into the op "
                                          "groups of the table, one colour per group."),))]

