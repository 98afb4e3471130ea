"""Uncertainty of the numbers a report compares, from scipy.stats (no hand-written tables).

Two sources of noise, kept apart so a reader sees both:
- **seeds**: a run's accuracy changes with its initial weights and batch order. ``over_seeds`` gives the
  mean with its 95 % t-interval; ``paired`` the mean difference of two configurations trained on the same
  seeds (paired, so the shared part of the seed noise cancels) with its interval;
- **the test set**: 10,000 images are a sample. ``wilson`` is the sampling interval of one accuracy;
  ``mcnemar`` asks whether two models scored on the same images disagree more in one direction than chance.

``ratio`` gives a timing ratio's interval from repeated paired measurements (on log times, so a ratio and
its inverse get the same treatment). Every function takes plain numbers and returns plain numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

LEVEL = 0.95


def _scipy_stats():
    """scipy.stats, imported on first use: a one-seed training run, which computes no interval, skips its 0.5 s
    import."""
    from scipy import stats

    return stats


@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` values with its ``LEVEL`` interval (``low``, ``high``; NaN with one value) and
    the values' standard deviation ``sd`` (NaN with one value)."""

    mean: float
    low: float
    high: float
    sd: float
    n: int

    @property
    def covers_zero(self) -> bool:
        """Whether the interval holds 0 (True when there is no interval: one value says nothing)."""
        return not (self.low > 0 or self.high < 0)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def metrics(self, key: str) -> dict[str, float]:
        """As MLflow metrics: the mean under ``key``, the interval under ``<key>_ci95_low``/``_high``."""
        return {key: self.mean, f"{key}_ci95_low": self.low, f"{key}_ci95_high": self.high}

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, object], key: str) -> "Estimate | None":
        """What ``metrics`` wrote (sd and n are not kept: NaN and 2); None where ``key`` is missing or NaN."""
        mean = metrics.get(key)
        if not isinstance(mean, float) or math.isnan(mean):
            return None
        return cls(mean, metrics.get(f"{key}_ci95_low", math.nan), metrics.get(f"{key}_ci95_high", math.nan),
                   math.nan, 2)


def over_seeds(values: Sequence[float]) -> Estimate:
    """The mean of ``values`` (one per seed) with its t-interval."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("no values to summarise")
    mean = float(x.mean())
    if x.size == 1:
        return Estimate(mean, math.nan, math.nan, math.nan, 1)
    sd = float(x.std(ddof=1))
    if sd == 0:
        return Estimate(mean, mean, mean, 0.0, int(x.size))
    stats = _scipy_stats()
    low, high = stats.t.interval(LEVEL, df=x.size - 1, loc=mean, scale=stats.sem(x))
    return Estimate(mean, float(low), float(high), sd, int(x.size))


def paired(a: Sequence[float], b: Sequence[float]) -> Estimate:
    """``b - a`` per pair (the same seed), its mean and the t-interval of ``scipy.stats.ttest_rel``."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"paired values need equal, non-zero lengths (got {x.size} and {y.size})")
    diff = y - x
    if x.size == 1 or float(diff.std(ddof=1)) == 0:
        return over_seeds(diff)
    ci = _scipy_stats().ttest_rel(y, x).confidence_interval(LEVEL)
    return Estimate(float(diff.mean()), float(ci.low), float(ci.high), float(diff.std(ddof=1)), int(x.size))


def prediction_interval(values: Sequence[float]) -> tuple[float, float]:
    """Where one more seed's value falls with probability ``LEVEL``: mean ± t·sd·√(1 + 1/n) (NaN below 2 values)."""
    stats = _scipy_stats()
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return math.nan, math.nan
    spread = stats.t.ppf((1 + LEVEL) / 2, df=x.size - 1) * x.std(ddof=1) * math.sqrt(1 + 1 / x.size)
    return float(x.mean() - spread), float(x.mean() + spread)


def wilson(correct: int, total: int) -> tuple[float, float]:
    """The Wilson score interval of an accuracy of ``correct`` out of ``total`` (the test set's sampling noise)."""
    stats = _scipy_stats()
    if total <= 0:
        return math.nan, math.nan
    ci = stats.binomtest(int(correct), int(total)).proportion_ci(LEVEL, method="wilson")
    return float(ci.low), float(ci.high)


@dataclass(frozen=True)
class McNemar:
    """Two models on the same images: ``only_a`` right where b is wrong, ``only_b`` the reverse, and the exact
    two-sided p-value of the discordant counts under "either is as likely" (a binomial test)."""

    only_a: int
    only_b: int
    p: float


ERRORS_FILE = "test_errors.json"  # a run's artifact: the test images it got wrong (``errors_record``)


def errors_record(right: np.ndarray) -> dict[str, object]:
    """Which of ``right``'s (n,) images a model got wrong, as JSON values: ``{"images": n, "wrong": [i, ...]}``
    (a few hundred indices of 10,000: small text a run's export keeps in git)."""
    right = np.asarray(right, dtype=bool)
    return {"images": int(right.size), "wrong": np.flatnonzero(~right).tolist()}


def right_from(record: Mapping[str, object]) -> np.ndarray:
    """``errors_record``'s (n,) bool array back: True where the model got the image right."""
    right = np.ones(int(record["images"]), dtype=bool)
    right[np.asarray(record["wrong"], dtype=np.int64)] = False
    return right


def mcnemar(right_a: np.ndarray, right_b: np.ndarray) -> McNemar:
    """McNemar's exact test on which of the same images two models got right (both (n,) bool)."""
    stats = _scipy_stats()
    right_a, right_b = np.asarray(right_a, dtype=bool), np.asarray(right_b, dtype=bool)
    if right_a.shape != right_b.shape:
        raise ValueError(f"the two models were scored on different images: {right_a.shape} and {right_b.shape}")
    only_a, only_b = int(np.sum(right_a & ~right_b)), int(np.sum(right_b & ~right_a))
    p = 1.0 if only_a + only_b == 0 else float(stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)
    return McNemar(only_a, only_b, p)


def ratio(numerators: Sequence[float], denominators: Sequence[float]) -> Estimate:
    """The ratio of paired times (e.g. the same round's or seed's), as the geometric mean of the per-pair
    ratios with the t-interval of their logarithms mapped back; ``sd`` is that of the log ratios."""
    num, den = np.asarray(numerators, dtype=float), np.asarray(denominators, dtype=float)
    if num.shape != den.shape or num.size == 0 or np.any(num <= 0) or np.any(den <= 0):
        raise ValueError("a ratio needs equal numbers of positive times on both sides")
    logs = over_seeds(np.log(num / den))
    return Estimate(math.exp(logs.mean), math.exp(logs.low), math.exp(logs.high), logs.sd, logs.n)
