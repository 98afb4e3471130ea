"""The generated sentences from hand-made runs (DataFrames shaped like ``runs.tidy``'s; no MLflow)."""
from __future__ import annotations

import pandas as pd

from mlpbench.report import tables, uncertainty
from mlpbench.report.explain import explanation

RERUN = "Tutorial setup, rerun here"
UNKNOWN = "no-such-backend"  # never registered: backend names are identifiers


def runs(*rows: dict) -> pd.DataFrame:
    """Runs of preset ``tutorial`` with the given backend and metrics (and seed 0 unless given)."""
    base = {"experiment_id": "1", "status": "FINISHED", "preset": "tutorial", "params.train.seed": "0"}
    columns = dict.fromkeys(["run_id", "name", "backend", *base, *(k for r in rows for k in r)])
    return pd.DataFrame([{**base, "run_id": f"{i:032x}", "name": f"run {i}", **r} for i, r in enumerate(rows)],
                        columns=list(columns))


def sentences(frame: pd.DataFrame) -> str:
    seed_rows = tables.rows(frame, "mnist")
    backends = list(dict.fromkeys(frame["backend"])) if len(frame) else []
    comparisons = uncertainty.compare(seed_rows, None, backends) if backends else []
    rows = tables.summarise(seed_rows)
    return " ".join(explanation(rows, tables.configuration(seed_rows), comparisons, seed_rows))


NUMPY = {"backend": "numpy", "final/train_acc": 0.99, "final/val_acc": 0.96, "time/total_s": 30.0,
         "time/epoch_median_s": 3.0}
TORCH = {"backend": "torch", "final/train_acc": 0.99, "final/val_acc": 0.965, "time/total_s": 10.0,
         "time/epoch_median_s": 1.0}


def test_gaps_and_ratios_are_computed_from_the_rows():
    text = sentences(runs(NUMPY, TORCH))
    assert "Tutorial (published): +6.52 points" in text and f"{RERUN}: +0.50 points" in text
    assert "paired by seed (1 seed), the difference is +0.50 points (1 seed) (one seed only: no interval, so no " \
           "verdict on validation accuracy), against +6.52 points" in text
    assert "PyTorch is 3.54× faster than NumPy (45.3 s † vs 12.8 s †)" in text
    assert "PyTorch is 3.00× faster than NumPy (30.0 s vs 10.0 s; median epoch: PyTorch is 3.00× faster than NumPy)" in text
    assert "NumPy validation 96.00 % (+5.35 points)" in text
    assert f"{RERUN}: NumPy +3.00 points, PyTorch +2.50 points" in text


def test_different_seeds_are_not_paired():
    text = sentences(runs(NUMPY, {**TORCH, "params.train.seed": "1"}))
    assert f"{RERUN}: +0.50 points" in text and "paired by seed" not in text


def test_other_backends_are_named_by_the_registry_or_their_own_name():
    text = sentences(runs(NUMPY, {**TORCH, "backend": UNKNOWN}))
    assert "Validation accuracy, no-such-backend minus NumPy." not in text  # it has no published row: one group only
    assert f"{RERUN}: NumPy +3.00 points, no-such-backend +2.50 points" in text
    assert "no-such-backend validation" not in text  # no published numbers of its own to compare with
    assert "PyTorch +2.50" not in text


def test_what_the_rows_cannot_support_is_left_out():
    assert sentences(runs()) == ""
    assert "PyTorch minus NumPy" not in sentences(runs(NUMPY))  # one backend measured: one group only
