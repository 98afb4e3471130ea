"""The three groups a comparison sets side by side, each a row per backend.

1. the reference tutorial's published numbers (a fixed reference, never measured here);
2. the tutorial's setup rerun here (runs with preset ``tutorial``);
3. our default configuration (preset ``default``); other presets follow as groups of their own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from mlpbench.report.collect import RunData

PUBLISHED = "Tutorial (published)"
GROUP_LABELS = {"tutorial": "Tutorial setup, rerun here", "default": "Our default"}
BACKEND_ORDER = ("numpy", "torch")

# The reference tutorial's own results as its text publishes them (no test-set numbers).
TUTORIAL_PUBLISHED: Mapping[str, Mapping[str, float]] = {
    "numpy": {"train_acc": 0.9915, "val_acc": 0.9065, "time_total_s": 45.3},
    "torch": {"train_acc": 0.9929, "val_acc": 0.9717, "time_total_s": 12.8},
}

# report value -> MLflow summary metric
METRICS = {
    "train_acc": "final/train_acc", "val_acc": "final/val_acc", "test_acc": "test/acc",
    "train_loss": "final/train_loss", "val_loss": "final/val_loss", "test_loss": "test/loss",
    "time_total_s": "time/total_s", "time_train_s": "time/train_s",
    "epoch_median_s": "time/epoch_median_s", "samples_per_s": "time/samples_per_s_median",
    "epochs": "epochs_run", "best_epoch": "best_epoch", "peak_rss_mb": "memory/peak_rss_mb",
}


@dataclass(frozen=True)
class Entry:
    """One row of the comparison: a group, a backend, its values and (unless published) its run."""

    group: str
    backend: str
    values: Mapping[str, float]  # keys of METRICS; absent when not known
    run: RunData | None = None

    @property
    def label(self) -> str:
        return f"{self.group}: {self.backend}"


def group_label(preset: str) -> str:
    return GROUP_LABELS.get(preset, f"Preset {preset!r}")


def _order(preset: str) -> tuple[int, str]:
    known = list(GROUP_LABELS)
    return (known.index(preset), "") if preset in known else (len(known), preset)


def run_entry(run: RunData) -> Entry:
    values = {k: run.metrics[m] for k, m in METRICS.items() if m in run.metrics}
    return Entry(group_label(run.preset), run.backend, values, run)


def entries(runs: Sequence[RunData], published: bool = True) -> list[Entry]:
    """Published reference rows first, then the runs by group (tutorial, default, others) and backend."""
    backend_rank = lambda b: (BACKEND_ORDER.index(b) if b in BACKEND_ORDER else len(BACKEND_ORDER), b)  # noqa: E731
    ranked = sorted(runs, key=lambda r: (_order(r.preset), backend_rank(r.backend), r.name, r.run_id))
    rows = [Entry(PUBLISHED, b, dict(v)) for b, v in TUTORIAL_PUBLISHED.items()] if published else []
    return rows + [run_entry(r) for r in ranked]


def find(rows: Sequence[Entry], group: str, backend: str) -> Entry | None:
    """The first row of ``group`` and ``backend``, if any."""
    return next((e for e in rows if e.group == group and e.backend == backend), None)


def groups(rows: Sequence[Entry]) -> list[str]:
    """Group labels in row order, each once."""
    return list(dict.fromkeys(e.group for e in rows))
