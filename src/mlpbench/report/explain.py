"""The generated explanation: sentences computed from the numbers, claiming no more than they show.

Backends are compared in pairs, each against the first registered backend in the rows. A
sentence is left out when the rows it needs are missing.
"""
from __future__ import annotations

import math
from typing import Iterable

import pandas as pd

from mlpbench.options import label
from mlpbench.report import format as fmt
from mlpbench.report.runs import backend_rank, column
from mlpbench.report.tables import DEFAULT, PUBLISHED, RERUN

GROUPS = (PUBLISHED, RERUN, DEFAULT)
VAL, TRAIN, TEST, TIME, EPOCH = "final/val_acc", "final/train_acc", "test/acc", "time/total_s", "time/epoch_median_s"


class Rows:
    """The comparison's rows (``tables.rows``); ``get`` reads the first row of a (group, backend)."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.first = frame.drop_duplicates(["group", "backend"]).set_index(["group", "backend"]).to_dict("index")
        self.backends = sorted(set(frame["backend"]), key=backend_rank)

    def get(self, group: str, backend: str, key: str) -> float | None:
        """The value, or None where the row or the value is missing."""
        value = self.first.get((group, backend), {}).get(key)
        return value if isinstance(value, float) and math.isfinite(value) else None


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _sentence(head: str, parts: Iterable[str | None], tail: str = "", least: int = 2) -> str | None:
    """``head``, the parts that exist joined by "; ", then ``tail``; None with fewer than ``least`` parts."""
    found = [p for p in parts if p]
    return f"{head} {'; '.join(found)}.{tail}" if len(found) >= least else None


def backend_gap(rows: Rows, ref: str, other: str) -> str | None:
    """``other`` minus ``ref`` validation accuracy in each group, against the published gap."""
    def part(group: str) -> str | None:
        x, y = rows.get(group, ref, VAL), rows.get(group, other, VAL)
        if x is not None and y is not None:
            return f"{group}: {fmt.points(y - x)} ({label(ref)} {fmt.pct(x)}, {label(other)} {fmt.pct(y)})"

    published, rerun = (_minus(rows.get(g, other, VAL), rows.get(g, ref, VAL)) for g in (PUBLISHED, RERUN))
    tail = ""
    if published is not None and rerun is not None:
        runs = rows.frame[(rows.frame["group"] == RERUN) & rows.frame["backend"].isin([ref, other])]
        one_seed = column(runs, "params.train.seed").nunique(dropna=False) == 1
        shared = " share their initial weights and batch order (one seed) and" if one_seed else ""
        tail = (f" In the rerun the two backends{shared} differ by {abs(rerun) * 100:.2f} points,"
                f" against {abs(published) * 100:.2f} points in the tutorial's published numbers.")
    return _sentence(f"Validation accuracy, {label(other)} minus {label(ref)}.", map(part, GROUPS), tail)


def speed(rows: Rows, ref: str, other: str) -> str | None:
    """``ref`` time over ``other`` time per group (ratios compare across machines, seconds do not)."""
    def part(group: str) -> str | None:
        x, y = rows.get(group, ref, TIME), rows.get(group, other, TIME)
        if x is None or not y:
            return None
        ex, ey = rows.get(group, ref, EPOCH), rows.get(group, other, EPOCH)
        epoch = f"; median epoch {fmt.ratio(ex / ey)}" if ex is not None and ey else ""
        return f"{group}: {fmt.ratio(x / y)} ({fmt.seconds(x)} vs {fmt.seconds(y)}{epoch})"

    return _sentence(f"Training time, {label(ref)} over {label(other)}.", map(part, GROUPS),
                     " The published times come from a machine this report does not know, so compare the ratios"
                     " rather than the seconds.")


def against_published(rows: Rows) -> str | None:
    """The rerun's accuracies minus the published ones, per backend."""
    def part(b: str) -> str | None:
        val, train = rows.get(RERUN, b, VAL), rows.get(RERUN, b, TRAIN)
        if (gap := _minus(val, rows.get(PUBLISHED, b, VAL))) is not None:
            return (f"{label(b)} validation {fmt.pct(val)} ({fmt.points(gap)}), "
                    f"train {fmt.pct(train)} ({fmt.points(_minus(train, rows.get(PUBLISHED, b, TRAIN)))})")

    return _sentence("The tutorial's setup rerun here, against its published numbers:", map(part, rows.backends),
                     least=1)


def overfitting(rows: Rows) -> str | None:
    """Train minus validation accuracy per group and backend."""
    def part(group: str) -> str | None:
        gaps = [f"{label(b)} {fmt.points(gap)}" for b in rows.backends
                if (gap := _minus(rows.get(group, b, TRAIN), rows.get(group, b, VAL))) is not None]
        return f"{group}: {', '.join(gaps)}" if gaps else None

    return _sentence("Train minus validation accuracy.", map(part, GROUPS),
                     " Train accuracy here is the mean over the last epoch's batches in training mode (with dropout"
                     " where configured), so it can fall below validation accuracy.")


def default_vs_rerun(rows: Rows, config: pd.DataFrame) -> str | None:
    """The settings in which our default differs from the tutorial setup, and what that gives,
    without attributing causes. Settings are the configuration table's rows; those only one side
    has (an optimizer's own keys) are left to the table."""
    if RERUN not in config or DEFAULT not in config:
        return None
    both = (config[RERUN] != fmt.MISSING) & (config[DEFAULT] != fmt.MISSING)
    changed = config[both & (config[RERUN] != config[DEFAULT])]
    text = _sentence("Our default changes the tutorial setup in:", least=1, parts=(
        f"{s} {a} → {b}" for s, a, b in zip(changed["setting"], changed[RERUN], changed[DEFAULT])))
    gains = (f"{label(b)} validation {fmt.points(val)}, test {fmt.points(test)}" for b in rows.backends
             if (val := _minus(rows.get(DEFAULT, b, VAL), rows.get(RERUN, b, VAL))) is not None
             and (test := _minus(rows.get(DEFAULT, b, TEST), rows.get(RERUN, b, TEST))) is not None)
    gained = _sentence(" Against the rerun tutorial setup, our default's accuracy changes by:", gains, least=1,
                       tail=" These runs change several settings at once, so they do not say which change matters;"
                            " the ablation report (`reports/ablation/ablation.md`, `make ablation`) changes them one"
                            " at a time.")
    return (text or "Our default and the tutorial setup have the same settings.") + (gained or "")


def explanation(frame: pd.DataFrame, config: pd.DataFrame) -> list[str]:
    """The sentences that apply to the comparison's rows, in reading order."""
    rows = Rows(frame)
    ref, others = rows.backends[0], rows.backends[1:]
    sentences = [*(backend_gap(rows, ref, b) for b in others), against_published(rows), overfitting(rows),
                 *(speed(rows, ref, b) for b in others), default_vs_rerun(rows, config)]
    return [s for s in sentences if s]
