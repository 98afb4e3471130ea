"""The scaling study's results: the win table (Markdown) and samples/s figures, from its rows.

Rows are ``measure.summary_row``'s: one per (point, backend) with median, min and max seconds of a
step and of its GEMM floor.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from mlpbench.io import atomic_path  # noqa: E402
from mlpbench.options import label  # noqa: E402
from mlpbench.scaling.grid import AXES  # noqa: E402

AXIS_LABELS = {"width": "width of the first hidden layer", "batch_size": "batch size",
               "depth": "hidden layers"}
OVERLAP = " (spreads overlap)"


def on_axis(frame: pd.DataFrame, axis: str) -> pd.DataFrame:
    """The rows of the points lying on ``axis``, sorted along it."""
    rows = frame[frame["axes"].str.split().map(lambda axes: axis in axes)]
    return rows.sort_values([axis, "backend"], kind="stable")


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def winner(point: pd.DataFrame) -> tuple[str, float, bool]:
    """(fastest backend by median step, how many times faster than the next, whether their spreads overlap)."""
    ranked = point.sort_values("step_s", kind="stable")
    best, second = ranked.iloc[0], ranked.iloc[1]
    return best["backend"], second["step_s"] / best["step_s"], bool(best["step_s_max"] >= second["step_s_min"])


def win_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per point and axis: each backend's step [min-max], GEMM floor and the rest (ms), each other
    backend's step over the first's with its 95 % interval over the interleaved rounds (where the rows
    have ``step_ratio``), the winner.

    The winner has the lowest median step; "by" is the next backend's median over the winner's.
    """
    backends = list(dict.fromkeys(frame["backend"]))
    ratios = "step_ratio" in frame
    out = []
    for dtype in dict.fromkeys(frame["dtype"]):
        for axis in AXES:
            rows = on_axis(frame[frame["dtype"] == dtype], axis)
            for (_, hidden, batch), point in rows.groupby([axis, "hidden_sizes", "batch_size"], sort=False):
                row = {"dtype": dtype, "axis": AXIS_LABELS[axis], "hidden": hidden, "batch": str(batch)}
                for _, r in point.set_index("backend").reindex(backends).iterrows():
                    name = label(r.name)
                    row[f"{name} step ms [min–max]"] = f"{_ms(r.step_s)} [{_ms(r.step_s_min)}–{_ms(r.step_s_max)}]"
                    row[f"{name} GEMM floor ms"] = _ms(r.floor_s)
                    row[f"{name} rest ms"] = _ms(r.overhead_s)
                    row[f"{name} GEMM GFLOP/s"] = f"{r.gemm_gflops:.1f}"
                    if ratios and r.name != backends[0]:
                        row[f"{name} ÷ {label(backends[0])} step [95 % CI]"] = (
                            f"{r.step_ratio:.2f}× [{r.step_ratio_ci95_low:.2f}, {r.step_ratio_ci95_high:.2f}]")
                best, by, overlap = winner(point) if len(point) > 1 else (point["backend"].iloc[0], 1.0, False)
                row["faster"] = label(best) + (OVERLAP if overlap else "")
                row["by"] = f"{by:.2f}×"
                out.append(row)
    return pd.DataFrame(out)


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return Path(path)


def samples_figure(frame: pd.DataFrame, axis: str, path: Path) -> Path:
    """Samples/s against ``axis``, one panel per dtype: a line per backend (its min-max band shaded)
    and its GEMM floor dashed in the same colour; both axes logarithmic."""
    dtypes = list(dict.fromkeys(frame["dtype"]))
    fig, axes = plt.subplots(1, len(dtypes), figsize=(5.5 * len(dtypes), 4.2), squeeze=False)
    for ax, dtype in zip(axes[0], dtypes):
        rows = on_axis(frame[frame["dtype"] == dtype], axis)
        for j, (backend, r) in enumerate(rows.groupby("backend", sort=False)):
            colour = f"C{j}"
            ax.plot(r[axis], r["samples_per_s"], "-o", color=colour, label=f"{label(backend)} training step")
            ax.fill_between(r[axis], r["batch_size"] / r["step_s_max"], r["batch_size"] / r["step_s_min"],
                            color=colour, alpha=0.2, linewidth=0)
            ax.plot(r[axis], r["floor_samples_per_s"], "--", color=colour, label=f"{label(backend)} GEMM floor")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        values = sorted(set(rows[axis]))
        ax.set_xticks(values, [str(v) for v in values])
        ax.set(xlabel=AXIS_LABELS[axis], ylabel="samples per second", title=dtype)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    return _save(fig, path)


def figures(frame: pd.DataFrame, folder: Path, axes: Sequence[str] = AXES) -> list[Path]:
    """``samples_per_s_<axis>.png`` in ``folder`` for each axis."""
    folder.mkdir(parents=True, exist_ok=True)
    return [samples_figure(frame, axis, folder / f"samples_per_s_{axis}.png") for axis in axes]
