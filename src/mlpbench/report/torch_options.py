"""Torch's built-in optimizations, measured: the torch options study's runs (DVC stage
``torch_options``) as a table and plain sentences, each variant against eager float32 on its device.

The study's run file (``metrics/torch_options_run.json``) gives the run ids; every number comes from
MLflow. One sentence says that every other registered backend runs without these options.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping

import pandas as pd

from mlpbench.options import BACKENDS
from mlpbench.report import format as fmt
from mlpbench.report.render import Section
from mlpbench.report.runs import ReportError, column, load_runs
from mlpbench.torch_options.variants import FIRST_EXTRA, LOAD, STEADY, STEP, STEP_MAX, STEP_MIN, VARIANTS

HEADING = "Torch's built-in optimizations, measured"
CLEAR = 0.05  # a ratio within 5 % of 1 is called no clear change
HEADERS = ("backend", "variant", "device", "optimizer implementation", "val acc", "test acc", "steady epoch",
           "× eager float32", "step, timed in turn", "× eager (steps)", "first-epoch extra", "load (1 min)",
           "MLflow run")


def read_study(path: Path) -> dict:
    """The run file's ``runs`` (variant -> run id), ``skipped`` and ``setting``."""
    try:
        study = json.loads(Path(path).read_text())
        runs = study["runs"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ReportError(f"{path} is not the torch options study's run file ({err}); rerun "
                          "`dvc repro torch_options` (pipelines/torch_options.py)") from err
    if not runs or not all(isinstance(v, str) for v in runs.values()):
        raise ReportError(f"{path} names no runs; rerun `dvc repro torch_options`")
    return {"runs": runs, "skipped": study.get("skipped") or {}, "setting": study.get("setting", "?")}


def variant_rows(runs: pd.DataFrame, ids: dict[str, str]) -> pd.DataFrame:
    """One row per variant in run order, with its baseline's steady epoch and step times as ``base_s``
    and ``base_step_s``."""
    by_id = runs.set_index("run_id")
    rows = by_id.loc[list(ids.values())].reset_index()

    def base(key: str) -> list[float]:
        return [by_id.loc[ids[b], key] if b in ids else float("nan") for b in rows["tags.baseline"]]

    return rows.assign(variant=list(ids), base_s=base(STEADY), base_step_s=base(STEP), base_step_min_s=base(STEP_MIN),
                       base_step_max_s=base(STEP_MAX))


def table(rows: pd.DataFrame, ui_url: str | None) -> pd.DataFrame:
    """One row per variant (torch's runs only: the options are torch's own)."""
    torch_rows = [[BACKENDS["torch"].label, r["tags.variant_label"], r["tags.backend_device"],
                   fmt.text(r.get("tags.backend_optimizer_impl")), fmt.pct(r["final/val_acc"]),
                   fmt.pct(r["test/acc"]), fmt.seconds(r[STEADY]), fmt.ratio(r[STEADY] / r["base_s"]),
                   fmt.seconds(r[STEP]), fmt.ratio(r[STEP] / r["base_step_s"]), fmt.seconds(r[FIRST_EXTRA]),
                   _load(r.get(LOAD)), fmt.run_ref(ui_url, r["experiment_id"], r["run_id"])]
                  for _, r in rows.iterrows()]
    return pd.DataFrame(torch_rows, columns=list(HEADERS))


def other_backends() -> str | None:
    """One sentence for every registered backend but torch; None when torch is the only one."""
    others = [spec.short for name, spec in BACKENDS.items() if name != "torch"]
    if not others:
        return None
    names = others[0] if len(others) == 1 else f"{', '.join(others[:-1])} and {others[-1]}"
    return (f"These options are torch's own: {names} {'has' if len(others) == 1 else 'have'} none of them (a run "
            "that sets torch.* with another backend is refused), so the table holds torch's runs only.")


def _load(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) and value == value else fmt.MISSING


def busy(rows: pd.DataFrame) -> str | None:
    """A warning when the load average exceeded the CPU cores while the variants trained."""
    loads = pd.to_numeric(column(rows, LOAD), errors="coerce")
    cores = pd.to_numeric(column(rows, "tags.cpu_count"), errors="coerce")
    if not (loads > cores).any():
        return None
    return (f"The machine was busy while the study ran (1-minute load average up to {loads.max():.1f} on "
            f"{cores.max():.0f} CPU cores): the epoch times share the CPUs with other work; the steps timed in turn "
            "are the fairer comparison, and a quiet machine may give other ratios.")


def overlap(r: pd.Series) -> bool:
    """Whether the min–max spreads of the variant's and its baseline's step timings overlap."""
    return bool(r[STEP_MIN] <= r["base_step_max_s"] and r["base_step_min_s"] <= r[STEP_MAX])


def verdict(ratio: float, overlapping: bool = False) -> str:
    """helped / hurt / no clear difference from the step ratio; a caveat where the spreads overlap."""
    if 1 - CLEAR <= ratio <= 1 + CLEAR:
        return "made no clear difference (within 5 %)"
    caveat = " (though its step timings' spread overlaps eager float32's)" if overlapping else ""
    return ("helped" if ratio < 1 else "hurt") + caveat


def sentence(r: pd.Series, base: pd.Series) -> str:
    """E.g. "bf16 autocast on cpu helped: a training step took 15.3 ms against 22.2 ms for eager float32
    (0.69×, timed in turn), a steady epoch 0.80 s against 1.10 s (0.73×); validation accuracy ..."."""
    steps, epochs = r[STEP] / r["base_step_s"], r[STEADY] / r["base_s"]
    text = (f"{r['tags.variant_label']} on {r['tags.backend_device']} {verdict(steps, overlap(r))}: a training "
            f"step took {fmt.seconds(r[STEP])} against {fmt.seconds(r['base_step_s'])} for eager float32 "
            f"({fmt.ratio(steps)}, timed in turn), a steady epoch {fmt.seconds(r[STEADY])} against {fmt.seconds(r['base_s'])} "
            f"({fmt.ratio(epochs)}); validation accuracy {fmt.pct(r['final/val_acc'])} against "
            f"{fmt.pct(base['final/val_acc'])} ({fmt.points(r['final/val_acc'] - base['final/val_acc'])}).")
    if r.get("params.torch.compile") == "True":
        text += f" Its first epoch took {fmt.seconds(r[FIRST_EXTRA])} longer than a steady one: compilation."
    return text


def _label(name: str) -> str:
    """E.g. "bf16 autocast on cuda"; the name itself if it is not a registered variant."""
    return f"{VARIANTS[name].label} on {VARIANTS[name].device}" if name in VARIANTS else name


def section(uri: str, run_file: Path, ui_url: str | None = None, local: Mapping[str, str] | None = None) -> list[Section]:
    """The section from the study's run file; nothing when the file does not exist.

    local: run id -> its id in the store, for runs restored from an export (``report.runs.restore_runs``).
    """
    if not Path(run_file).is_file():
        return []
    study = read_study(run_file)
    ids = {variant: (local or {}).get(run_id, run_id) for variant, run_id in study["runs"].items()}
    rows = variant_rows(load_runs(uri, list(ids.values()), sources=[run_file]), ids)
    by_variant = rows.set_index("variant")
    bullets = [warning] if (warning := busy(rows)) else []
    bullets += [sentence(r, by_variant.loc[r["tags.baseline"]]) for _, r in rows.iterrows()
                if r["variant"] != r["tags.baseline"] and r["tags.baseline"] in by_variant.index]
    bullets += [f"{_label(name)} did not run: {why}." for name, why in study["skipped"].items()]
    epochs = fmt.text(rows["params.train.epochs"].iloc[0])
    text = (f"The torch backend trained with each of torch's own optimizations against eager float32: same "
            f"config and seed (same initial weights, batches and dropout masks), {epochs} epochs each "
            f"({study['setting']} setting of `dvc repro torch_options`), all in one process.",)
    notes = ("A steady epoch is the median over the epochs after the first (training steps only); '× eager "
             "float32' divides it by eager float32's on the same device, so below 1.00× is faster. After training, "
             "every variant's step is timed on the same batch, the variants in turn over seven rounds (median): "
             "a change of the machine's load slows them alike, so '× eager (steps)' is the ratio that tells "
             "whether a variant helped; where the min–max of its rounds overlaps eager float32's, the order "
             "may not hold on a quieter machine. The first-"
             "epoch extra is how much longer the first epoch (steps and evaluation) took than the later ones: "
             "torch.compile's compilation, which a warm compile cache on the machine shortens. The variants "
             "train one after another, so a machine whose load (the 1-minute load average as each variant's "
             "training ended, against its CPU cores) changed between them shifts the epoch ratios.",
             *filter(None, [other_backends()]))
    return [Section(HEADING, text=text, table=table(rows, ui_url), notes=notes, bullets=tuple(bullets))]
