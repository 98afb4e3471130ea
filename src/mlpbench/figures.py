"""Matplotlib figures for runs and reports, written as PNG files (Agg backend, no display)."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mlpbench.io import atomic_path  # noqa: E402


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return Path(path)


def training_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], path: Path, title: str = "") -> Path:
    """Loss and accuracy against epoch, train (dashed) and validation (solid), one colour per run.

    histories: label -> {"epoch": [...], "train/loss": [...], "val/loss": [...],
                         "train/acc": [...], "val/acc": [...]}
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (label, h) in enumerate(histories.items()):
        colour = f"C{i}"
        for ax, key in ((ax_loss, "loss"), (ax_acc, "acc")):
            ax.plot(h["epoch"], h[f"train/{key}"], "--", color=colour, label=f"{label} train")
            ax.plot(h["epoch"], h[f"val/{key}"], "-", color=colour, label=f"{label} validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def confusion(matrix: np.ndarray, path: Path, title: str = "Confusion matrix (test set)") -> Path:
    """Heat map of a (10, 10) count matrix: rows true label, columns prediction."""
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=colour)
    ax.set(xlabel="predicted", ylabel="true", title=title, xticks=range(10), yticks=range(10))
    return _save(fig, path)


MARKERS = ("o", "s", "^", "D", "v", "P")


def against_param(series: Mapping[str, Sequence[tuple]], path: Path, xlabel: str,
                  ylabel: str, order: Sequence[str] | None = None) -> Path:
    """One line per label through its (x, y) points; x is categorical (as text), in ``order``
    (default: first appearance). Each label has its own marker and a small sideways offset, so
    series with equal values stay visible instead of hiding one another. A point given as
    (x, y, low, high) gets an error bar from low to high (none where they are NaN).
    """
    labels = [str(x) for x in order] if order is not None else list(
        dict.fromkeys(str(x) for points in series.values() for x, _ in points))
    where = {x: i for i, x in enumerate(labels)}
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels)), 4))  # room for each category's label
    for j, (label, points) in enumerate(series.items()):
        shift = (j - (len(series) - 1) / 2) * 0.06
        xs = [where[str(p[0])] + shift for p in points]
        ys = [p[1] for p in points]
        line, = ax.plot(xs, ys, linestyle="-", marker=MARKERS[j % len(MARKERS)], markersize=7 - j % 3, alpha=0.85,
                        label=label)
        bars = [(x, y, p[2], p[3]) for x, y, p in zip(xs, ys, points) if len(p) == 4 and np.isfinite(p[2])]
        if bars:
            ax.errorbar([b[0] for b in bars], [b[1] for b in bars], fmt="none", capsize=3, color=line.get_color(),
                        yerr=[[b[1] - b[2] for b in bars], [b[3] - b[1] for b in bars]])
    ax.set_xticks(range(len(labels)), labels)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def grouped_bars(values: Mapping[str, Mapping[str, Mapping[str, float]]], panels: Sequence[tuple[str, str]],
                 path: Path, zoom: Sequence[str] = (), title: str = "") -> Path:
    """One panel per (metric key, axis label): groups along x, one coloured bar per series in each.

    values: group -> series -> metric key -> value; a missing value leaves a gap. Panels whose
    key is in ``zoom`` start their axis a little below the smallest value shown (the axis label
    says so), so that differences of a point or two stay visible.
    """
    groups = list(values)
    series = list(dict.fromkeys(s for per_group in values.values() for s in per_group))
    width = 0.8 / max(1, len(series))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        shown = []
        for j, name in enumerate(series):
            xs = np.arange(len(groups)) + (j - (len(series) - 1) / 2) * width
            ys = np.array([values[g].get(name, {}).get(key, np.nan) for g in groups], dtype=float)
            ax.bar(xs, ys, width, color=f"C{j}", label=name)
            for x, y in zip(xs, ys):
                if np.isfinite(y):
                    ax.annotate(f"{y:.4g}" if abs(y) >= 1 else f"{y:.2g}", (x, y), ha="center", va="bottom", fontsize=7)
                    shown.append(y)
        ax.set_xticks(range(len(groups)), groups, fontsize=8)
        if key in zoom and shown:
            low = max(0.0, float(np.floor(min(shown))) - 2.0)
            ax.set_ylim(low, max(shown) + 0.08 * (max(shown) - low + 1))
            label = f"{label}, axis from {low:g}"
        ax.set(title=label)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(series), fontsize=9)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
