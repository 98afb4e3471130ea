"""The generated explanation: sentences computed from the numbers, claiming no more than they show.

Backends are compared in pairs, each against the first registered backend in the rows. A
sentence is left out when the rows it needs are missing.
"""
from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from mlpbench import stats
from mlpbench.options import label
from mlpbench.report import format as fmt
from mlpbench.report.runs import backend_rank
from mlpbench.report.tables import BEST, DEFAULT, PUBLISHED, RERUN, TUTORIAL_PUBLISHED, copied
from mlpbench.report.uncertainty import Comparison, interval_points, per_seed, verdict

GROUPS = (PUBLISHED, RERUN, DEFAULT, BEST)
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


def backend_gap(rows: Rows, ref: str, other: str, paired: Mapping[str, stats.Estimate]) -> str | None:
    """``other`` minus ``ref`` mean validation accuracy in each group; for the rerun, the paired difference's
    verdict (``paired``: group -> estimate) against the published gap."""
    def part(group: str) -> str | None:
        x, y = rows.get(group, ref, VAL), rows.get(group, other, VAL)
        if x is not None and y is not None:
            return (f"{group}: {fmt.points(y - x)} ({label(ref)} {_shown(group, fmt.pct(x))}, "
                    f"{label(other)} {_shown(group, fmt.pct(y))})")

    published = _minus(rows.get(PUBLISHED, other, VAL), rows.get(PUBLISHED, ref, VAL))
    tail = ""
    if published is not None and (diff := paired.get(RERUN)) is not None:
        tail = (f" In the rerun, paired by seed ({diff.n} seed{'s' if diff.n != 1 else ''}), the difference is"
                f" {interval_points(diff)}"
                f" ({verdict(diff, 'validation accuracy', label(ref), label(other))}), against"
                f" {fmt.points(published)} in the tutorial's published numbers (one run each).")
    return _sentence(f"Validation accuracy (mean over seeds), {label(other)} minus {label(ref)}.",
                     map(part, GROUPS), tail)


def _shown(group: str, text: str) -> str:
    """``text``, marked as copied from the tutorial in the published group."""
    return copied(text) if group == PUBLISHED else text


def times_words(a: str, x: float, b: str, y: float) -> str:
    """Which of two times is shorter and by how much: "NumPy is 1.39× faster than PyTorch" (x, y: their times)."""
    return f"{a} is {fmt.times(y / x)} faster than {b}" if x <= y else f"{b} is {fmt.times(x / y)} faster than {a}"


def speed(rows: Rows, ref: str, other: str) -> str | None:
    """Which backend trains faster and by how much, per group (ratios compare across machines, seconds do not)."""
    def part(group: str) -> str | None:
        x, y = rows.get(group, ref, TIME), rows.get(group, other, TIME)
        if not x or not y:
            return None
        ex, ey = rows.get(group, ref, EPOCH), rows.get(group, other, EPOCH)
        epoch = f"; median epoch: {times_words(label(ref), ex, label(other), ey)}" if ex and ey else ""
        return (f"{group}: {times_words(label(ref), x, label(other), y)} ({_shown(group, fmt.seconds(x))} vs "
                f"{_shown(group, fmt.seconds(y))}{epoch})")

    published = rows.get(PUBLISHED, ref, TIME) is not None
    return _sentence("Training time (mean over seeds).", map(part, GROUPS),
                     " The published times come from a machine this report does not know, so compare the ratios"
                     " rather than the seconds." if published else "")


def against_published(rows: Rows) -> str | None:
    """The rerun's accuracies minus the published ones, per backend."""
    def part(b: str) -> str | None:
        val, train = rows.get(RERUN, b, VAL), rows.get(RERUN, b, TRAIN)
        if (gap := _minus(val, rows.get(PUBLISHED, b, VAL))) is not None:
            return (f"{label(b)} validation {fmt.pct(val)} ({fmt.points(gap)}), "
                    f"train {fmt.pct(train)} ({fmt.points(_minus(train, rows.get(PUBLISHED, b, TRAIN)))})")

    return _sentence("The tutorial's setup rerun here, against its published numbers:", map(part, rows.backends),
                     least=1)


def published_among_seeds(seed_rows: pd.DataFrame, backend: str) -> str | None:
    """Where the tutorial's published validation accuracy falls among the seeds of its setup rerun here; None
    when the rows hold no published numbers (runs of another data set)."""
    values = list(per_seed(seed_rows, RERUN, backend, VAL).values())
    published = TUTORIAL_PUBLISHED.get(backend, {}).get(VAL) if (seed_rows["group"] == PUBLISHED).any() else None
    if published is None or len(values) < 2:
        return None
    low, high = stats.prediction_interval(values)
    sd = float(np.std(values, ddof=1))
    where = "inside" if low <= published <= high else "outside"
    distance = f", {abs(published - np.mean(values)) / sd:.1f} seed standard deviations from the mean" if sd > 0 else ""
    return (f"{label(backend)}: the tutorial's published validation accuracy {copied(fmt.pct(published))} lies {where} the"
            f" 95 % range of one more seed of its setup rerun here ({low * 100:.2f} to {high * 100:.2f} %, from"
            f" {len(values)} seeds: mean {fmt.pct(np.mean(values))}, sd {sd * 100:.2f} points){distance}.")


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


def explanation(frame: pd.DataFrame, config: pd.DataFrame, comparisons: Iterable[Comparison] = (),
                seed_rows: pd.DataFrame | None = None) -> list[str]:
    """The sentences that apply to the comparison's configurations (``tables.summarise``), in reading order.

    comparisons: the paired backend differences (``uncertainty.compare``); seed_rows: the runs, one per
    seed, for where the published numbers fall among the rerun's seeds.
    """
    rows = Rows(frame)
    ref, others = rows.backends[0], rows.backends[1:]
    paired = {b: {c.group: c.val for c in comparisons if c.other == b and c.val is not None} for b in others}
    sentences = [*(backend_gap(rows, ref, b, paired[b]) for b in others),
                 *(published_among_seeds(seed_rows, b) for b in rows.backends if seed_rows is not None),
                 against_published(rows), overfitting(rows),
                 *(speed(rows, ref, b) for b in others), default_vs_rerun(rows, config)]
    return [s for s in sentences if s]
