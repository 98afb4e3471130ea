"""Matplotlib figures for runs and reports, written as PNG files (Agg backend, no display).

Every figure gives a backend the same colour (``options.colour``, here ``backend_colour``); what else a figure tells apart (train and
validation, a configuration, a seed) it shows by line style or marker. Accuracies are fractions in the
runs and percentages on the axes, as in the tables. Figures are at most ``MAX_WIDTH_IN`` inches wide at
``DPI`` (about 1000 px), so ``dvc plots show`` and a report page show them whole.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mlpbench.io import atomic_path  # noqa: E402
from mlpbench.options import BACKENDS, UNREGISTERED_COLOUR, label  # noqa: E402
from mlpbench.options import colour as backend_colour  # noqa: E402

DPI = 110
MAX_WIDTH_IN = 9.0  # 990 px at DPI
MARKERS = ("o", "s", "^", "D", "v", "P")
ACCURACY = "accuracy (%)"


def _width(inches: float) -> float:
    return min(inches, MAX_WIDTH_IN)


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return Path(path)


def _percent(values: Sequence[float]) -> np.ndarray:
    return 100.0 * np.asarray(values, dtype=float)


def _series_colour(name: str, j: int) -> str:
    """A backend's own colour; any other series the j-th colour after the backends'."""
    colour = backend_colour(name)
    return colour if colour != UNREGISTERED_COLOUR else f"C{(len(BACKENDS) + j) % 10}"


def _epoch_axes(axes, legend_size: int = 8) -> None:
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        ax.grid(alpha=0.3)
        ax.legend(fontsize=legend_size)


def training_curves(histories: Mapping[str, Mapping[str, Sequence[float]]], path: Path, title: str = "",
                    colour: str | None = None, markers: Mapping[str, str] | None = None) -> Path:
    """Loss and accuracy (%) against epoch, train (dashed) and validation (solid).

    histories: label -> {"epoch": [...], "train/loss": [...], "val/loss": [...],
                         "train/acc": [...], "val/acc": [...]} (accuracies as fractions).
    colour: every run in this colour (one backend's runs: ``backend_colour``), each run with its own marker
    (``markers``: label -> marker, so that a configuration keeps its marker across figures); without it each run
    gets a colour of its own (e.g. the seeds of one configuration).
    """
    markers = markers or {}
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(_width(10), 4))
    for i, (name, h) in enumerate(histories.items()):
        marker = markers.get(name, MARKERS[i % len(MARKERS)])
        style = {"color": colour, "marker": marker, "markersize": 4} if colour else {"color": f"C{i}"}
        for ax, key, scale in ((ax_loss, "loss", np.asarray), (ax_acc, "acc", _percent)):
            ax.plot(h["epoch"], scale(h[f"train/{key}"]), "--", label=f"{name} train", **style)
            ax.plot(h["epoch"], scale(h[f"val/{key}"]), "-", label=f"{name} validation", **style)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="Loss")
    ax_acc.set(xlabel="epoch", ylabel=ACCURACY, title="Accuracy")
    _epoch_axes((ax_loss, ax_acc))
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def seed_band(histories: Sequence[Mapping[str, Sequence[float]]], key: str
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(epochs, mean, min, max) of ``key`` over the seeds' histories, on the epochs every seed has."""
    epochs = sorted(set.intersection(*(set(h["epoch"]) for h in histories)))
    values = np.array([[dict(zip(h["epoch"], h[key]))[e] for e in epochs] for h in histories], dtype=float)
    return np.asarray(epochs), values.mean(axis=0), values.min(axis=0), values.max(axis=0)


def backend_curves(panels: Mapping[str, Mapping[str, Sequence[Mapping[str, Sequence[float]]]]], path: Path,
                   title: str = "") -> Path:
    """Accuracy (%) per epoch of every backend overlaid, one panel per configuration: validation solid, train
    dashed, each the mean over the seeds with the seeds' min-max shaded; a backend in its own colour.

    panels: configuration -> backend (name or label) -> its seeds' histories (as ``training_curves``').
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(_width(4.8 * len(panels)), 4.2), squeeze=False)
    for ax, (config, backends) in zip(axes[0], panels.items()):
        for j, (backend, histories) in enumerate(backends.items()):
            colour, seeds = _series_colour(backend, j), f"{len(histories)} seed{'s' if len(histories) != 1 else ''}"
            for key, style, what in (("val/acc", "-", "validation"), ("train/acc", "--", "train")):
                epochs, mean, low, high = seed_band(histories, key)
                # the second backend's line is drawn thinner, so that it stays visible on top of an equal first
                ax.plot(epochs, _percent(mean), style, color=colour, linewidth=2.2 - 0.8 * j,
                        label=f"{label(backend)} {what} ({seeds})")
                ax.fill_between(epochs, _percent(low), _percent(high), color=colour, alpha=0.18, linewidth=0)
        ax.set(xlabel="epoch", ylabel=ACCURACY, title=config)
    _epoch_axes(axes[0], legend_size=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
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
    fig, ax = plt.subplots(figsize=(_width(max(6, 0.9 * len(labels))), 4))  # room for each category's label
    for j, (name, points) in enumerate(series.items()):
        shift = (j - (len(series) - 1) / 2) * 0.06
        xs = [where[str(p[0])] + shift for p in points]
        ys = [p[1] for p in points]
        line, = ax.plot(xs, ys, linestyle="-", marker=MARKERS[j % len(MARKERS)], markersize=7 - j % 3, alpha=0.85,
                        label=name, color=_series_colour(name, j))
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
    columns = len(panels) if len(panels) <= 2 else 2  # four panels side by side would be 1500 px wide
    rows = -(-len(panels) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(_width(4.5 * columns), 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (key, panel) in zip(axes.flat, panels):
        shown = []
        for j, name in enumerate(series):
            xs = np.arange(len(groups)) + (j - (len(series) - 1) / 2) * width
            ys = np.array([values[g].get(name, {}).get(key, np.nan) for g in groups], dtype=float)
            ax.bar(xs, ys, width, color=_series_colour(name, j), label=name)
            for x, y in zip(xs, ys):
                if np.isfinite(y):
                    ax.annotate(f"{y:.4g}" if abs(y) >= 1 else f"{y:.2g}", (x, y), ha="center", va="bottom", fontsize=7)
                    shown.append(y)
        ax.set_xticks(range(len(groups)), groups, fontsize=8)
        if key in zoom and shown:
            low = max(0.0, float(np.floor(min(shown))) - 2.0)
            ax.set_ylim(low, max(shown) + 0.08 * (max(shown) - low + 1))
            panel = f"{panel}, axis from {low:g}"
        ax.set(title=panel)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(series), fontsize=9)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def stacked_bars(values: Mapping[str, Mapping[str, float]], path: Path, xlabel: str, title: str = "") -> Path:
    """One horizontal bar per row (e.g. a backend), split into its parts end to end, one colour per part.

    values: row -> part -> value (e.g. ms); every row should name the same parts, in the order they are drawn
    and listed in the legend. A part's value is written on it where it is wide enough.
    """
    rows = list(values)
    parts = list(dict.fromkeys(p for per_row in values.values() for p in per_row))
    fig, ax = plt.subplots(figsize=(_width(9.0), 0.8 + 0.7 * len(rows)))
    widest = max((sum(v.values()) for v in values.values()), default=1.0)
    left = np.zeros(len(rows))
    for j, part in enumerate(parts):
        widths = np.array([values[r].get(part, 0.0) for r in rows], dtype=float)
        ax.barh(range(len(rows)), widths, left=left, color=f"C{j % 10}", label=part, height=0.6)
        for i, w in enumerate(widths):
            if w >= 0.06 * widest:
                ax.annotate(f"{w:.1f}", (left[i] + w / 2, i), ha="center", va="center", fontsize=7, color="white")
        left += widths
    ax.set_yticks(range(len(rows)), rows)
    ax.invert_yaxis()
    ax.set(xlabel=xlabel, title=title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25 - 0.05 * len(rows)), ncol=4, fontsize=8)
    return _save(fig, path)
