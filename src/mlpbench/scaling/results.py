"""The scaling study's results: the win table and samples/s figures, from its rows.

Rows are ``measure.summary_row``'s: one per (point, backend) with median, min and max seconds of a
step and of its GEMM floor (the step's matrix products alone: a floor on the step's time, a ceiling on its
samples/s). ``report`` writes them as Markdown under the machine, date and a summary.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from mlpbench.io import atomic_path  # noqa: E402
from mlpbench.options import colour as backend_colour  # noqa: E402
from mlpbench.options import label  # noqa: E402
from mlpbench.scaling.grid import AXES  # noqa: E402

AXIS_LABELS = {"width": "width of the first hidden layer", "batch_size": "batch size",
               "depth": "hidden layers"}
OVERLAP = " (spreads overlap)"
DISTURBED = "—"  # a rest below zero: the step's median fell below its GEMM floor's
CEILING = "GEMM ceiling (the matrix multiplications alone)"


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


def rest(seconds: float) -> str:
    """The step's time beyond its GEMM floor (ms); ``DISTURBED`` where it is negative, which no undisturbed
    measurement gives (the floor's matrix products are part of the step)."""
    return DISTURBED if seconds < 0 else _ms(seconds)


def win_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per point and axis: the point, the winner and by how much, each other backend's step over the
    first's with its 95 % interval over the interleaved rounds (where the rows have ``step_ratio``), then each
    backend's step [min-max], GEMM floor, the rest (``rest``) and GEMM GFLOP/s.

    The winner has the lowest median step; "by" is the next backend's median over the winner's.
    """
    backends = list(dict.fromkeys(frame["backend"]))
    ratios = "step_ratio" in frame
    out = []
    for dtype in dict.fromkeys(frame["dtype"]):
        for axis in AXES:
            rows = on_axis(frame[frame["dtype"] == dtype], axis)
            for (_, hidden, batch), point in rows.groupby([axis, "hidden_sizes", "batch_size"], sort=False):
                best, by, overlap = winner(point) if len(point) > 1 else (point["backend"].iloc[0], 1.0, False)
                row = {"dtype": dtype, "axis": AXIS_LABELS[axis], "hidden": hidden, "batch": str(batch),
                       "faster": label(best) + (OVERLAP if overlap else ""), "by": f"{by:.2f}×"}
                by_backend = point.set_index("backend").reindex(backends)
                for _, r in by_backend.iloc[1:].iterrows() if ratios else ():
                    row[f"{label(r.name)} ÷ {label(backends[0])} step [95 % CI]"] = (
                        f"{r.step_ratio:.2f}× [{r.step_ratio_ci95_low:.2f}, {r.step_ratio_ci95_high:.2f}]")
                for _, r in by_backend.iterrows():
                    name = label(r.name)
                    row[f"{name} step ms [min–max]"] = f"{_ms(r.step_s)} [{_ms(r.step_s_min)}–{_ms(r.step_s_max)}]"
                    row[f"{name} GEMM floor ms"] = _ms(r.floor_s)
                    row[f"{name} rest ms"] = rest(r.overhead_s)
                    row[f"{name} GEMM GFLOP/s"] = f"{r.gemm_gflops:.1f}"
                out.append(row)
    return pd.DataFrame(out)


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return Path(path)


def samples_figure(frame: pd.DataFrame, axis: str, path: Path) -> Path:
    """Samples/s against ``axis``, one panel per dtype: a line per backend in its colour (its min-max band
    shaded) and dashed in the same colour its GEMM ceiling, the samples/s of the step's matrix
    multiplications alone, which the whole step cannot exceed; both axes logarithmic."""
    dtypes = list(dict.fromkeys(frame["dtype"]))
    fig, axes = plt.subplots(1, len(dtypes), figsize=(min(9.0, 4.6 * len(dtypes)), 4.2), squeeze=False)
    for ax, dtype in zip(axes[0], dtypes):
        rows = on_axis(frame[frame["dtype"] == dtype], axis)
        for backend, r in rows.groupby("backend", sort=False):
            colour = backend_colour(backend)
            ax.plot(r[axis], r["samples_per_s"], "-o", color=colour, label=f"{label(backend)} training step")
            ax.fill_between(r[axis], r["batch_size"] / r["step_s_max"], r["batch_size"] / r["step_s_min"],
                            color=colour, alpha=0.2, linewidth=0)
            ax.plot(r[axis], r["floor_samples_per_s"], "--", color=colour, label=f"{label(backend)} {CEILING}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        values = sorted(set(rows[axis]))
        ax.set_xticks(values, [str(v) for v in values])
        ax.set(xlabel=AXIS_LABELS[axis], ylabel="samples per second", title=dtype)
        ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    # one legend under the panels: inside one, it hid the lines at the narrow end
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2, fontsize=8)
    return _save(fig, path)


def figures(frame: pd.DataFrame, folder: Path, axes: Sequence[str] = AXES) -> list[Path]:
    """``samples_per_s_<axis>.png`` in ``folder`` for each axis."""
    folder.mkdir(parents=True, exist_ok=True)
    return [samples_figure(frame, axis, folder / f"samples_per_s_{axis}.png") for axis in axes]
