"""The scaling study's Markdown page: the machine and date, a summary, then one win table per dtype and axis.

``markdown`` is what the study writes; ``rebuild`` writes the page and figures again from a study's CSV and
its run's portable export (runs/scaling/<run id>.json), without timing anything.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from mlpbench.io import write_text
from mlpbench.options import label
from mlpbench.scaling.results import AXIS_LABELS, CEILING, DISTURBED, figures, win_table

UNRECORDED = "not recorded"


@dataclass(frozen=True)
class Provenance:
    """Where and when a study was measured, as its MLflow run records it.

    tags: the run's tags (``cpu``, ``cpu_count``, ``blas_<backend>``, ``threads_<backend>``, ``git_commit``);
    params: the run's params (``grid``, ``hidden_sizes``, ``batch_size``, ``dtype``); when: the run's start.
    """

    tags: Mapping[str, str]
    params: Mapping[str, str]
    when: datetime


def machine(about: Provenance, backends: Sequence[str]) -> str:
    """E.g. "Measured on 2026-12-06 14:12 UTC on AMD EPYC (2 CPU cores); NumPy: openblas ... (2 threads)"."""
    tags = about.tags
    cores = f"{tags['cpu_count']} CPU cores" if tags.get("cpu_count") else f"CPU cores {UNRECORDED}"
    libraries = []
    for b in backends:
        blas, threads = tags.get(f"blas_{b}", UNRECORDED), tags.get(f"threads_{b}")
        libraries.append(f"{label(b)}: {blas}" + (f", {threads} threads" if threads and "thread" not in blas else ""))
    commit = f", code at git commit `{tags['git_commit']}`" if tags.get("git_commit") else ""
    return (f"Measured on {about.when.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC on {tags.get('cpu', UNRECORDED)} "
            f"({cores}){commit}. BLAS and threads: {'; '.join(libraries)}.")


def summary(frame: pd.DataFrame, about: Provenance) -> list[str]:
    """Who is faster at how many points, the step ratio at the default point and its range over the grid."""
    table = win_table(frame).drop_duplicates(["dtype", "hidden", "batch"])  # the default point lies on every axis
    backends = list(dict.fromkeys(frame["backend"]))
    wins = []
    for b in backends:
        mine = table["faster"].str.startswith(label(b))
        close = int((mine & table["faster"].str.contains("overlap")).sum())
        wins.append(f"{label(b)} at {int(mine.sum())}" + (f" ({close} of them with overlapping spreads)" if close else ""))
    out = [f"Lower median training step, of {len(table)} points: {'; '.join(wins)}."]
    ratio = next((c for c in table if "÷" in c), None)
    if ratio is not None:
        p = about.params
        default = table[(table["hidden"] == p.get("hidden_sizes")) & (table["batch"] == str(p.get("batch_size")))
                        & (table["dtype"] == p.get("dtype"))]
        values = frame.loc[frame["backend"] != backends[0], "step_ratio"]
        at = (f"at the default point (hidden {p['hidden_sizes']}, batch {p['batch_size']}, {p['dtype']}) "
              f"{default[ratio].iloc[0]}, and " if len(default) else "")
        out.append(f"{ratio.removesuffix(' [95 % CI]')} (above 1: the first is slower; 95 % interval over the "
                   f"interleaved rounds): {at}from {values.min():.2f}× to {values.max():.2f}× across the grid.")
    disturbed = int((frame["overhead_s"] < 0).sum())
    if disturbed:
        out.append(f"{disturbed} point{'s were' if disturbed > 1 else ' was'} disturbed while measured (rest "
                   f"{DISTURBED}, see below); rerun the study on a quiet machine for those.")
    return out


def tables(frame: pd.DataFrame) -> list[str]:
    """A heading and a win table per (dtype, axis), the varied setting first and the verdict next to it."""
    table, out = win_table(frame), []
    for (dtype, axis), rows in table.groupby(["dtype", "axis"], sort=False):
        varied = "batch" if axis == AXIS_LABELS["batch_size"] else "hidden"
        fixed = "hidden" if varied == "batch" else "batch"
        out.append(f"### {dtype}, {axis} ({fixed} {rows[fixed].iloc[0]})")
        shown = rows.drop(columns=["dtype", "axis", fixed]).rename(columns={varied: axis})
        out.append(shown.to_markdown(index=False, disable_numparse=True))
    return out


def markdown(frame: pd.DataFrame, figure_paths: list[Path], folder: Path, data_title: str,
             about: Provenance) -> str:
    """The page: title, machine and date, summary, how to read the tables, the tables, the figures."""
    parts = [
        f"# Scaling study on {data_title} ({about.params.get('grid', UNRECORDED)} grid)",
        machine(about, list(dict.fromkeys(frame["backend"]))),
        "## Summary",
        "\n".join(f"- {line}" for line in summary(frame, about)),
        "## Where each backend is faster",
        "Median milliseconds of a training step of each backend over its timings, taken in turn with the other "
        "backend's (min–max in brackets). 'faster' names the backend with the lower median step, 'by' the other's "
        "median over it; '(spreads overlap)' marks points where the min–max ranges overlap, so the order may not "
        "hold on a quieter machine. The GEMM floor is the step's matrix multiplications alone on the backend's own "
        "BLAS, which the step cannot beat; the rest is everything else in the step. A rest shown as "
        f"{DISTURBED} came out negative: the step's median fell below its floor's, which only happens when the "
        "machine's load changed between the timings, so that point's numbers are disturbed.",
        *tables(frame),
        "## Samples per second",
        f"Solid: samples per second of each backend's training step (its min–max shaded). Dashed, in the same "
        f"colour: its {CEILING}, the samples per second the step would reach if it did nothing but its matrix "
        "multiplications, an upper bound; the gap between the two is the rest.",
        *(f"![{p.stem}]({p.relative_to(folder).as_posix()})" for p in figure_paths),
    ]
    return "\n\n".join(parts) + "\n"


def from_export(export: Path) -> Provenance:
    """The provenance of a study from its run's portable export (``tracking.portable``'s JSON)."""
    try:
        run = json.loads(Path(export).read_text())
        return Provenance(run["tags"], run["params"], datetime.fromtimestamp(run["start_time"] / 1000, timezone.utc))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{export} is no scaling study's run export ({err}); name runs/scaling/<run id>.json, "
                         "written by `dvc repro scaling`") from err


def rebuild(folder: Path, export: Path) -> list[Path]:
    """Write ``folder``/scaling.md and figures/ again from ``folder``/scaling.csv and the study's run export;
    returns their paths."""
    about = from_export(export)
    frame = pd.read_csv(folder / "scaling.csv", dtype={"hidden_sizes": str})
    pngs = figures(frame, folder / "figures")
    md = folder / "scaling.md"
    write_text(md, markdown(frame, pngs, folder, about.tags.get("dataset_title", UNRECORDED), about))
    return [md, *pngs]
