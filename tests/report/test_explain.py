"""The generated explanation, from hand-made rows (no MLflow needed)."""
from __future__ import annotations

from mlpbench.report.explain import explanation
from mlpbench.report.groups import GROUP_LABELS, Entry, entries


def test_explanation_computes_gaps_and_ratios_from_the_rows():
    rerun = GROUP_LABELS["tutorial"]
    rows = entries([]) + [
        Entry(rerun, "numpy", {"train_acc": 0.99, "val_acc": 0.96, "time_total_s": 30.0, "epoch_median_s": 3.0}),
        Entry(rerun, "torch", {"train_acc": 0.99, "val_acc": 0.965, "time_total_s": 10.0, "epoch_median_s": 1.0}),
    ]
    text = " ".join(explanation(rows))
    assert "Tutorial (published): +6.52 points" in text and f"{rerun}: +0.50 points" in text
    assert "3.54× (45.3 s vs 12.8 s)" in text and "3.00× (30.0 s vs 10.0 s; median epoch 3.00×)" in text
    assert "NumPy validation 96.00 % (+5.35 points)" in text


def test_explanation_leaves_out_what_the_rows_cannot_support():
    assert explanation([]) == []
