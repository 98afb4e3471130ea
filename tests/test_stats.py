"""The statistics agree with scipy.stats and with textbook values on fixed inputs."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as sp

from mlpbench import stats


def test_mean_interval_is_the_t_interval():
    values = [0.981, 0.983, 0.979, 0.984, 0.980]
    e = stats.over_seeds(values)
    low, high = sp.t.interval(0.95, 4, loc=np.mean(values), scale=sp.sem(values))
    assert (e.mean, e.low, e.high, e.n) == pytest.approx((np.mean(values), low, high, 5))
    assert e.sd == pytest.approx(np.std(values, ddof=1))
    # by hand: t(0.975, 4) = 2.776
    assert e.half_width == pytest.approx(2.776 * np.std(values, ddof=1) / math.sqrt(5), rel=1e-3)


def test_one_value_has_no_interval_and_no_verdict():
    e = stats.over_seeds([0.98])
    assert e.mean == 0.98 and math.isnan(e.low) and e.covers_zero


def test_paired_difference_is_ttest_rel():
    a, b = [0.90, 0.91, 0.92, 0.93], [0.905, 0.917, 0.921, 0.936]
    e = stats.paired(a, b)
    ci = sp.ttest_rel(b, a).confidence_interval(0.95)
    assert (e.mean, e.low, e.high) == pytest.approx((np.mean(np.subtract(b, a)), ci.low, ci.high))
    assert not e.covers_zero
    assert stats.paired([1.0, 2.0, 3.0], [1.1, 1.9, 3.0]).covers_zero
    with pytest.raises(ValueError, match="equal"):
        stats.paired([1.0], [1.0, 2.0])


def test_wilson_interval_matches_the_formula():
    low, high = stats.wilson(9824, 10000)
    p, n, z = 0.9824, 10000, sp.norm.ppf(0.975)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert (low, high) == pytest.approx((centre - half, centre + half))
    assert 0.979 < low < 0.9824 < high < 0.985


def test_mcnemar_is_the_exact_binomial_test_of_the_discordant_images():
    a = np.ones(1000, dtype=bool)
    a[:30] = False  # a misses 30 images
    b = np.ones(1000, dtype=bool)
    b[20:60] = False  # b misses 40, 10 of them shared with a
    t = stats.mcnemar(a, b)
    assert (t.only_a, t.only_b) == (30, 20)
    assert t.p == pytest.approx(sp.binomtest(30, 50, 0.5).pvalue)
    assert stats.mcnemar(a, a).p == 1.0


def test_a_runs_errors_travel_as_text_and_come_back_as_the_same_array():
    right = np.ones(10_000, dtype=bool)
    right[[3, 17, 9_999]] = False
    record = stats.errors_record(right)
    assert record == {"images": 10_000, "wrong": [3, 17, 9_999]}
    np.testing.assert_array_equal(stats.right_from(json.loads(json.dumps(record))), right)


def test_ratio_is_the_geometric_mean_with_a_log_interval():
    num, den = [2.0, 2.2, 1.9, 2.1], [1.0, 1.0, 1.0, 1.05]
    e = stats.ratio(num, den)
    logs = np.log(np.divide(num, den))
    low, high = sp.t.interval(0.95, 3, loc=logs.mean(), scale=sp.sem(logs))
    assert (e.mean, e.low, e.high) == pytest.approx((math.exp(logs.mean()), math.exp(low), math.exp(high)))
    with pytest.raises(ValueError, match="positive"):
        stats.ratio([1.0], [0.0])


def test_prediction_interval_is_wider_than_the_mean_interval():
    values = [0.911, 0.913, 0.909, 0.915, 0.912]
    low, high = stats.prediction_interval(values)
    e = stats.over_seeds(values)
    assert low < e.low < e.high < high
    assert high - np.mean(values) == pytest.approx(sp.t.ppf(0.975, 4) * np.std(values, ddof=1) * math.sqrt(1.2))
