"""The comparison's numbers with their noise: seeds, the test set, and which differences are real.

The rows are one per seed's run (``tables.rows``); a (group, backend) is a configuration trained on
several seeds. For each, ``summaries`` gives every metric's mean over the seeds with its 95 % interval.
Backends are compared on the seeds both trained (the same seed: the same initial weights and batch order),
as a paired difference with its interval (``stats.paired``) and, seed by seed, with McNemar's exact test
on the test images each got right (artifact ``stats.ERRORS_FILE``). Words follow the intervals: a
difference whose interval holds 0 is "not distinguishable from zero", never a win.
"""
from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlpbench import stats, tracking
from mlpbench.options import label
from mlpbench.report import format as fmt
from mlpbench.report.runs import column
from mlpbench.report.tables import BEST, DEFAULT, RERUN, measured

VAL, TEST, EPOCH = "final/val_acc", "test/acc", "time/epoch_median_s"
SEED = "params.train.seed"
GROUPS = (RERUN, DEFAULT, BEST)


def per_seed(rows: pd.DataFrame, group: str, backend: str, key: str) -> dict[int, float | str]:
    """Seed -> value of ``key`` (a finite number, or text such as ``run_id``) for one configuration's runs;
    the first run of a seed counts, and runs without a seed param count under -1."""
    runs = measured(rows)
    runs = runs[(runs["group"] == group) & (runs["backend"] == backend)]
    out: dict[int, float | str] = {}
    for seed, value in zip(column(runs, SEED), column(runs, key)):
        if (isinstance(value, float) and np.isfinite(value)) or (isinstance(value, str) and value):
            out.setdefault(int(seed) if isinstance(seed, str) and seed.isdigit() else -1, value)
    return out


def verdict(diff: stats.Estimate, what: str, a: str, b: str) -> str:
    """Words for ``b - a``: a winner only where the interval excludes 0."""
    if diff.n < 2:
        return f"one seed only: no interval, so no verdict on {what}"
    if diff.covers_zero:
        return f"not distinguishable from zero: the same {what} within the noise"
    higher = b if diff.mean > 0 else a
    return f"{higher} is higher in {what}"


@dataclass(frozen=True)
class Comparison:
    """``other`` against ``ref`` in one group, on their shared seeds."""

    group: str
    ref: str
    other: str
    seeds: list[int]
    val: stats.Estimate | None
    test: stats.Estimate | None
    epoch_ratio: stats.Estimate | None  # other's median epoch over ref's, per seed
    mcnemar: dict[int, stats.McNemar]


def _paired(rows: pd.DataFrame, group: str, ref: str, other: str, key: str) -> dict[int, tuple]:
    """Seed -> (``ref``'s value, ``other``'s value) of ``key`` on the seeds both trained."""
    a, b = per_seed(rows, group, ref, key), per_seed(rows, group, other, key)
    return {s: (a[s], b[s]) for s in sorted(set(a) & set(b) - {-1})}


def difference(pairs: dict[int, tuple]) -> stats.Estimate | None:
    """The paired difference (second minus first) of ``_paired``'s values; None without a pair."""
    return stats.paired([a for a, _ in pairs.values()], [b for _, b in pairs.values()]) if pairs else None


class Correctness:
    """Which test images each run got right, downloaded once per run (None where the run has no record,
    and always without a store: ``uri`` None)."""

    def __init__(self, uri: str | None):
        self.uri, self.cache = uri, {}

    def __call__(self, run_id: str) -> np.ndarray | None:
        if self.uri is None or not run_id:
            return None
        if run_id not in self.cache:
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    path = tracking.download_artifact(self.uri, run_id, stats.ERRORS_FILE, Path(tmp))
                    self.cache[run_id] = stats.right_from(json.loads(path.read_text()))
            except Exception:  # older runs and imported ones without the artifact: no McNemar for them
                self.cache[run_id] = None
        return self.cache[run_id]


def compare(rows: pd.DataFrame, uri: str | None, backends: list[str]) -> list[Comparison]:
    """Every other backend against the first, in each group both trained (McNemar's test from the runs'
    artifacts in the store ``uri``; none without one)."""
    correct, out = Correctness(uri), []
    ref = backends[0]
    for group in GROUPS:
        for other in backends[1:]:
            val, test, epoch = (_paired(rows, group, ref, other, key) for key in (VAL, TEST, EPOCH))
            if not val:
                continue
            tests = {}
            for seed, ids in _paired(rows, group, ref, other, "run_id").items():
                a, b = map(correct, ids)
                if seed in val and a is not None and b is not None and a.shape == b.shape:
                    tests[seed] = stats.mcnemar(a, b)
            ratio = stats.ratio([b for _, b in epoch.values()], [a for a, _ in epoch.values()]) if epoch else None
            out.append(Comparison(group, ref, other, list(val), difference(val), difference(test), ratio, tests))
    return out


def interval_points(e: stats.Estimate | None) -> str:
    """A difference of fractions in points with its interval: ``+0.02 points [−0.05, +0.09]``."""
    if e is None:
        return fmt.MISSING
    if e.n < 2:
        return f"{fmt.points(e.mean)} (1 seed)"
    return f"{fmt.points(e.mean)} [{fmt.zeroed(e.low * 100, 2):+.2f}, {fmt.zeroed(e.high * 100, 2):+.2f}]"


def interval_ratio(e: stats.Estimate | None) -> str:
    if e is None:
        return fmt.MISSING
    return fmt.ratio(e.mean) if e.n < 2 else f"{fmt.ratio(e.mean)} [{e.low:.2f}, {e.high:.2f}]"


def faster(e: stats.Estimate | None, a: str, b: str) -> str:
    """Words for ``e``, ``b``'s time over ``a``'s, with its direction: "A is 1.42× [1.32, 1.52] faster than B",
    "B takes 1.42× as long as A" where the interval holds 1 ("no clear difference"), never a bare ratio."""
    if e is None or not (e.mean and e.mean > 0):
        return fmt.MISSING
    slow, quick, r = (b, a, e.mean) if e.mean >= 1 else (a, b, 1 / e.mean)
    bounds = (e.low, e.high) if e.mean >= 1 else (1 / e.high, 1 / e.low)
    has_interval = e.n >= 2 and all(v == v and v > 0 for v in (e.low, e.high))
    shown = fmt.times(r, *bounds) if has_interval else fmt.times(r)
    if has_interval and e.low <= 1 <= e.high:
        return f"no clear difference: {slow} takes {shown} as long as {quick}"
    return f"{quick} is {shown} faster than {slow}" + ("" if has_interval else " (one seed: no interval)")


def wide(e: stats.Estimate | None, limit: float = 1.25) -> bool:
    """Whether a ratio's interval spans more than ``limit`` (high over low): too wide to rank two timings by."""
    return e is not None and e.n >= 2 and (not e.low > 0 or e.high / e.low > limit)


def mcnemar_text(tests: dict[int, stats.McNemar], ref: str, other: str) -> str:
    """E.g. "seed 0: 41 vs 37, p 0.74; ...; p < 0.05 on 0 of 5 seeds"."""
    if not tests:
        return fmt.MISSING
    parts = [f"seed {s}: {t.only_a} vs {t.only_b}, p {t.p:.2f}" for s, t in sorted(tests.items())]
    significant = sum(t.p < 0.05 for t in tests.values())
    return f"{'; '.join(parts)} (p < 0.05 on {significant} of {len(tests)} seeds)"


def table(comparisons: list[Comparison]) -> pd.DataFrame:
    return pd.DataFrame({
        "group": [c.group for c in comparisons],
        "compared": [f"{label(c.other)} against {label(c.ref)}" for c in comparisons],
        "paired seeds": [str(len(c.seeds)) for c in comparisons],
        "val acc difference [95 % CI]": [interval_points(c.val) for c in comparisons],
        "test acc difference [95 % CI]": [interval_points(c.test) for c in comparisons],
        "test images only one got right (McNemar, exact)": [mcnemar_text(c.mcnemar, c.ref, c.other)
                                                            for c in comparisons],
        "median epoch time [95 % CI]": [faster(c.epoch_ratio, label(c.ref), label(c.other)) for c in comparisons],
    })


def sentences(comparisons: list[Comparison]) -> list[str]:
    """One sentence per comparison: the verdicts on validation and test accuracy, then the speed ratio."""
    out = []
    for c in comparisons:
        a, b = label(c.ref), label(c.other)
        words = [f"validation: {interval_points(c.val)}, {verdict(c.val, 'validation accuracy', a, b)}"]
        if c.test is not None:
            words.append(f"test: {interval_points(c.test)}, {verdict(c.test, 'test accuracy', a, b)}")
        speed = ""
        if c.epoch_ratio is not None and c.epoch_ratio.n >= 2:
            speed = f" Median epoch time: {faster(c.epoch_ratio, a, b)}."
        seeds = f"{len(c.seeds)} paired seed{'s' if len(c.seeds) != 1 else ''}"
        out.append(f"{c.group}, {b} minus {a} over {seeds}: {'; '.join(words)}.{speed}")
    return out
