"""The ablation report: the path from the tutorial's setup to our default, one change per step.

The steps are the presets ``ablation_<NN>_<change>`` of ``conf/experiment/ablation/`` (``make
ablation`` sweeps them for every backend). Per step and backend: validation and test accuracy, the
time of a training step and of an epoch, and the contribution of the step's change (its difference
to the previous step of the same backend). What a step changed is read from the runs' own params.
Optionally the sweeps of trials that try to reproduce the tutorial's published NumPy numbers get a
section of their own (``report.trials``). Every number comes from MLflow.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from mlpbench import figures, stats
from mlpbench.options import label
from mlpbench.report import dataset, tables
from mlpbench.report import format as fmt
from mlpbench.report.render import Figure, ReportFiles, Section, figure_dir, log, write
from mlpbench.report.runs import ReportError, backend_rank, display_uri, load_sweep, seed_values
from mlpbench.report.sweep import MACHINE_KEYS, finished_only, not_finished_table
from mlpbench.report.trials import trials_section
from mlpbench.report.uncertainty import interval_points

STEP = re.compile(r"ablation_(\d+)_(\w+)")  # a step's preset: ablation_03_depth
STEM = "ablation"
VAL, TEST = "final/val_acc", "test/acc"
# Epoch time, not a step's: an epoch trains on the same images at every batch size, so it stays comparable
# across the step that changes the batch size, where a step's time jumps with the batch it holds.
PLOTTED = (("final/val_acc", "validation accuracy (%)", "val_acc", 100.0),
           ("time/epoch_median_s", "median epoch (s)", "epoch_time", 1.0))
BATCH = "params.train.batch_size"
NOT_COMPARED = MACHINE_KEYS | {"preset"}  # params that never count as a step's change
# Params a run logs only where they apply (run.summary.run_params: the init scale for uniform init, the slope for
# leaky_relu): one missing from a step's run stopped applying, through a change the step names itself.
WHERE_APPLIES = frozenset({"model.init_scale", "model.leaky_slope"})
# Params a run logs only where they are on (run.summary.run_params): a run without one trained with it off, so
# its value there is the off value, as MLflow records it, and a step that turns one on names it as a change.
OFF_WHEN_MISSING = {"model.input_dropout": "0.0", "model.max_norm": "None", "train.augment_shift": "0"}


def step_of(preset: str) -> tuple[int, str] | None:
    """``ablation_03_depth`` -> (3, "depth"); None for a preset that is no ablation step."""
    match = STEP.fullmatch(str(preset))
    return (int(match.group(1)), match.group(2)) if match else None


def _override_values(overrides: str, key: str) -> list[str]:
    """The values ``key`` takes in the jobs of a sweep with this override line, as Hydra's basic sweeper
    expands it (a later override of a key replaces an earlier one); [] when the line does not parse."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides.split())
    except HydraException:
        return []
    values: list[str] = []
    for batch in BasicSweeper.split_arguments(parsed, None):
        for job in batch:
            values += [v for k, _, v in (o.partition("=") for o in job) if k.lstrip("+~") == key and v not in values]
    return values


def expected(parent: Mapping[str, Any], runs: pd.DataFrame) -> tuple[list[str], list[str]]:
    """(step presets, backends) the sweep asked for: from its overrides, else what its runs have."""
    overrides = parent["tags"].get("sweep_overrides", "")
    steps = [v.replace("/", "_") for v in _override_values(overrides, "experiment")]
    steps = [s for s in steps if step_of(s)] or sorted({p for p in runs["preset"] if step_of(p)})
    backends = _override_values(overrides, "backend") or sorted(set(runs["backend"]), key=backend_rank)
    return sorted(steps, key=step_of), sorted(backends, key=backend_rank)


def param_changes(before: pd.Series, after: pd.Series) -> str:
    """``key a → b`` for each param (machine keys and preset aside) that differs between two runs; a param
    logged only where it applies (``WHERE_APPLIES``) and missing from one run is no change of its own; one
    logged only where it is on (``OFF_WHEN_MISSING``) reads as off where it is missing."""
    keys = sorted({k for k in (*before.index, *after.index) if k.startswith("params.")
                   and k.removeprefix("params.") not in NOT_COMPARED})
    missing = fmt.text(None)

    def value(run: pd.Series, key: str) -> str:
        text = fmt.text(run.get(key))
        return OFF_WHEN_MISSING.get(key.removeprefix("params."), text) if text == missing else text

    parts = [f"{k.removeprefix('params.')} {value(before, k)} → {value(after, k)}" for k in keys
             if value(before, k) != value(after, k)
             and not (k.removeprefix("params.") in WHERE_APPLIES and missing in (value(before, k), value(after, k)))]
    return "; ".join(parts) if parts else "nothing"


def contribution(before: Mapping[int, Mapping[str, float]], after: Mapping[int, Mapping[str, float]],
                 key: str) -> stats.Estimate | None:
    """``after - before`` of ``key``, paired on the seeds both runs trained; None without a shared seed."""
    seeds = sorted(set(before) & set(after))
    return stats.paired([before[s][key] for s in seeds], [after[s][key] for s in seeds]) if seeds else None


def path_frame(runs: pd.DataFrame, seeds: Mapping[str, Mapping[int, Mapping[str, float]]]) -> pd.DataFrame:
    """The finished step runs in step then backend order, with the change and contribution of each.

    A (step, backend) with several finished runs keeps the latest. ``previous`` names the step a
    contribution is measured against (the nearest earlier step this backend has); ``seeds``: each run's
    values per seed (``runs.seed_values``), from which a contribution is paired by seed (``d_val``,
    ``d_test``: ``stats.Estimate``).
    """
    runs = runs.assign(step=runs["preset"].map(lambda p: step_of(p)[0]),
                       change=runs["preset"].map(lambda p: step_of(p)[1]),
                       seeds=runs["run_id"].map(lambda r: len(seeds.get(r, {})) or 1))
    runs = runs.drop_duplicates(["step", "backend"], keep="last")  # runs come oldest first
    rows = []
    for backend in sorted(set(runs["backend"]), key=backend_rank):
        prev = None
        for _, run in runs[runs["backend"] == backend].sort_values("step").iterrows():
            row = run.to_dict()
            if prev is not None:
                before, after = seeds.get(prev["run_id"], {}), seeds.get(run["run_id"], {})
                row |= {"previous": f"{prev['step']:02d}", "previous_run_id": prev["run_id"],
                        "changed": param_changes(prev, run),
                        "d_val": contribution(before, after, VAL), "d_test": contribution(before, after, TEST)}
            rows.append(row)
            prev = run
    extra = ["previous", "previous_run_id", "changed", "d_val", "d_test"]
    frame = pd.DataFrame(rows).reindex(columns=[*runs.columns, *extra])
    order = frame.assign(rank=frame["backend"].map(backend_rank)).sort_values(["step", "rank"]).index
    return frame.loc[order].reset_index(drop=True)


def delta(e: object) -> str:
    """A contribution with its interval, marked when the interval holds 0."""
    if not isinstance(e, stats.Estimate):
        return fmt.MISSING
    if e.n >= 2 and e.covers_zero:
        return f"{interval_points(e)}, not distinguishable from zero"
    return interval_points(e)


def step_label(row: Mapping[str, Any]) -> str:
    return f"{row['step']:02d} {row['change']}"


def path_table(frame: pd.DataFrame, ui_url: str | None) -> pd.DataFrame:
    refs = [fmt.run_ref(ui_url, e, r) for e, r in zip(frame["experiment_id"], frame["run_id"])]
    return tables.table(frame.assign(label=[step_label(r) for _, r in frame.iterrows()], ref=refs), (
        ("label", "step", fmt.text), ("backend", "backend", fmt.text), ("seeds", "seeds", fmt.count),
        ("final/val_acc", "val acc (mean)", fmt.pct), ("test/acc", "test acc (mean)", fmt.pct),
        ("d_val", "Δ val [95 % CI]", delta), ("d_test", "Δ test [95 % CI]", delta),
        ("time/step_median_s", "training step", fmt.seconds), ("time/epoch_median_s", "median epoch", fmt.seconds),
        ("time/train_s", "training", fmt.seconds), ("ref", "MLflow run", fmt.text)))


def agreement(by: Mapping[str, Mapping[str, Any]], backends: list[str],
              seeds: Mapping[str, Mapping[int, Mapping[str, float]]]) -> str:
    """Whether the backends' contributions to validation accuracy differ beyond the noise: each backend's
    per-seed contribution, paired across backends on the same seed (same initial weights and batches)."""
    present = [b for b in backends if b in by]
    if len(present) < 2:
        return "one backend only"
    per_backend = {}
    for b in present:
        before, after = seeds.get(by[b]["previous_run_id"], {}), seeds.get(by[b]["run_id"], {})
        per_backend[b] = {s: after[s][VAL] - before[s][VAL] for s in set(before) & set(after)}
    ref, verdicts = present[0], []
    for other in present[1:]:
        shared = sorted(set(per_backend[ref]) & set(per_backend[other]))
        if len(shared) < 2:
            return "one seed: cannot tell"
        gap = stats.paired([per_backend[ref][s] for s in shared], [per_backend[other][s] for s in shared])
        verdicts.append("agree within the noise" if gap.covers_zero else
                        f"disagree ({label(other)} − {label(ref)} {interval_points(gap)})")
    return "backends " + "; ".join(verdicts)


def contributions(frame: pd.DataFrame, backends: list[str], seeds: Mapping[str, Mapping[int, Mapping[str, float]]]
                  ) -> pd.DataFrame:
    """One row per step after the first: what changed, each backend's Δ val with its interval, and whether
    the backends agree."""
    rows = []
    for step, group in frame[frame["d_val"].notna()].groupby("step", sort=True):
        by = {r["backend"]: r for _, r in group.iterrows()}
        first = next(iter(by.values()))
        changed = sorted({r["changed"] for r in by.values()})
        row = {"step": step_label(first), "changed": " / ".join(changed)}
        row |= {b: delta(by[b]["d_val"]) if b in by else fmt.MISSING for b in backends}
        if any(by[b]["previous"] != f"{step - 1:02d}" for b in by):
            row["note"] = "against an earlier step (a step is missing)"
        else:
            row["note"] = agreement(by, backends, seeds)
        rows.append(row)
    headers = {"step": "step", "changed": "what changed", **{b: f"Δ val {label(b)} [95 % CI]" for b in backends},
               "note": "do the backends agree? (paired by seed)"}
    return pd.DataFrame(rows, columns=list(headers)).rename(columns=headers)


def distinguishable(frame: pd.DataFrame) -> str:
    """Which steps' contributions to validation accuracy are, and are not, distinguishable from zero."""
    rows = [r for _, r in frame.iterrows() if isinstance(r["d_val"], stats.Estimate) and r["d_val"].n >= 2]
    if not rows:
        return ("Each step ran on one seed: its contributions carry no interval and none can be told from the noise;"
                " rerun with several seeds (`make ablation ABLATION_SEEDS=3`).")
    real = [f"{step_label(r)} ({label(r['backend'])} {interval_points(r['d_val'])})" for r in rows
            if not r["d_val"].covers_zero]
    zero = [f"{step_label(r)} ({label(r['backend'])})" for r in rows if r["d_val"].covers_zero]
    return (f"Contributions to validation accuracy whose 95 % interval excludes zero: {'; '.join(real) or 'none'}. "
            f"Not distinguishable from zero: {'; '.join(zero) or 'none'}.")


def headline(frame: pd.DataFrame, backends: list[str]) -> list[str]:
    """Per backend: first to last step's validation accuracy, and the largest contribution."""
    out = []
    for b in backends:
        mine = frame[frame["backend"] == b]
        if mine.empty:
            continue
        first, last = mine.iloc[0], mine.iloc[-1]
        text = (f"{label(b)}: validation accuracy {fmt.pct(first['final/val_acc'])} at step {step_label(first)} → "
                f"{fmt.pct(last['final/val_acc'])} at step {step_label(last)}")
        steps = mine[mine["d_val"].notna()]
        if not steps.empty:
            top = steps.loc[steps["d_val"].map(lambda e: e.mean).idxmax()]
            text += f"; the largest gain is step {step_label(top)} ({delta(top['d_val'])})"
        out.append(text + ".")
    return out


def missing_steps(frame: pd.DataFrame, steps: list[str], backends: list[str]) -> str | None:
    have = {(f"ablation_{r['step']:02d}_{r['change']}", r["backend"]) for _, r in frame.iterrows()}
    lost = [f"{s} ({label(b)})" for s in steps for b in backends if (s, b) not in have]
    if not lost:
        return None
    return (f"Missing steps (no finished run): {', '.join(lost)}; the contribution after a gap is measured against "
            "the nearest earlier step. Rerun them (`make ablation`) for a complete path.")


def batch_changes(frame: pd.DataFrame) -> str:
    """E.g. " Step 05 batch changes the batch size (64 → 768)." for each step whose runs' batch size differs from
    the previous step's; "" where none does."""
    if BATCH not in frame:
        return ""
    sizes = list(dict.fromkeys((step_label(r), fmt.text(r[BATCH])) for _, r in frame.iterrows()))
    changes = [f"{step} ({before} → {size})" for (_, before), (step, size) in zip(sizes, sizes[1:]) if size != before]
    return f" The batch size changes at step {', '.join(changes)}." if changes else ""


def make_figures(frame: pd.DataFrame, folder: Path) -> list[Figure]:
    """Each plotted metric along the steps (labelled on two lines, number over change), one line per backend."""
    def tick(row: Mapping[str, Any]) -> str:
        return step_label(row).replace(" ", "\n", 1)

    order = list(dict.fromkeys(tick(r) for _, r in frame.iterrows()))
    why = {"epoch_time": " An epoch trains on the same images whatever the batch size, so its time stays comparable "
                         f"where a training step's would not.{batch_changes(frame)}"}
    out = []
    for metric, name, short, scale in PLOTTED:
        series: dict[str, list[tuple[str, float]]] = {}
        for _, row in (frame.dropna(subset=[metric]) if metric in frame else frame.iloc[:0]).iterrows():
            series.setdefault(label(row["backend"]), []).append((tick(row), scale * row[metric]))
        if series:
            out.append(Figure(figures.against_param(series, folder / f"{short}.png", xlabel="ablation step",
                                                    ylabel=name, order=order),
                              f"{name} at each step of the path, one line per backend.{why.get(short, '')}"))
    return out


def where(uri: str, ui_url: str | None) -> str:
    """The store the runs are in, as anyone can open it: the UI's address when there is one, else how to start it
    (never a path on one machine)."""
    if ui_url:
        return f"in the MLflow UI at {ui_url} (the run ids link there)."
    return (f"in the MLflow store {fmt.code(display_uri(uri))}. To open a run, start the UI with `make ui` and search "
            "its id; set tracking.ui_url (or pass --ui-url) to link the ids.")


def build_ablation(uri: str, out_dir: Path, parent_run_id: str, trials_run_ids: Sequence[str] = (),
                   ui_url: str | None = None, log_to_mlflow: bool = True, machine: str = "") -> ReportFiles:
    """Build ``out_dir/ablation.{md,html}`` (and its figures) from the ablation sweep ``parent_run_id``.

    ``trials_run_ids``: sweeps of reproduction trials, reported together in a section of their own.
    ``machine``: a sentence on the machine and its load, put in the introduction.
    Raises ``ReportError`` for a sweep that is not an ablation or has no finished step run, and
    ``MixedDatasetsError`` when its runs (or the trials') trained on more than one data set; before any file
    is written.
    """
    parent, every = load_sweep(uri, parent_run_id, None, "")
    is_step = every["preset"].map(lambda p: step_of(p) is not None)
    if not is_step.any():
        raise ReportError(f"sweep {parent_run_id} ({parent['name']}) is not an ablation: none of its {len(every)} "
                          "runs has an ablation step preset (ablation_<NN>_<change>); run `make ablation` and pass "
                          "its parent run id")
    runs, others = finished_only(every[is_step])
    if runs.empty:
        raise ReportError(f"none of the {len(every)} runs of ablation sweep {parent_run_id} FINISHED; rerun it")
    data = dataset.of(runs, "an ablation sweep trains on one data set: rerun `make ablation` for each")
    trials, trial_ids = trials_section(uri, trials_run_ids, ui_url, data) if trials_run_ids else (None, [])
    steps, backends = expected(parent, runs)
    seeds = seed_values(uri, runs, (VAL, TEST))
    frame = path_frame(runs, seeds)
    intro = [f"Child runs of the ablation sweep parent run {fmt.run_ref(ui_url, parent['experiment_id'], parent_run_id)} "
             f"({parent['name']}, status {parent['status']}): {len(every)} runs, {len(runs)} finished step runs (only "
             f"these are compared), {where(uri, ui_url)}",
             "Each step takes the previous one and changes one setting (`conf/experiment/ablation/`); step 00 is the "
             "tutorial's setup, the last step our default. Each step and backend is trained on the same seeds "
             "(a seed group: accuracies are means over them); Δ is the difference to the previous step of the "
             "same backend on the same seed (the change's contribution), with its 95 % interval; a training "
             "step's time is the median of paired timings after training (`time/step_median_s`), an epoch's the "
             "median over the epochs.",
             *([machine] if machine else [])]
    notes = [s for s in (missing_steps(frame, steps, backends), distinguishable(frame)) if s]
    others = pd.concat([others, every[~is_step]])
    body = [Section("Headline", bullets=tuple(headline(frame, backends))),
            Section("The path", table=path_table(frame, ui_url), notes=tuple(notes)),
            Section("Contribution of each change", table=contributions(frame, backends, seeds),
                    notes=("What changed is read from the runs' params (machine settings aside). A contribution is "
                           "the mean over seeds of the step's accuracy minus the previous step's on the same seed, "
                           "with its 95 % t-interval (scipy.stats.ttest_rel); \"not distinguishable from zero\" "
                           "where the interval holds 0. The backends agree when the difference of their "
                           "contributions, seed by seed, is not distinguishable from zero.",)),
            *([Section("Runs that did not finish or are no step", table=not_finished_table(others, ui_url))]
              if len(others) else []),
            Section("Along the path", figures=tuple(make_figures(frame, figure_dir(out_dir, STEM))))]
    summarised = [parent_run_id, *frame["run_id"]]
    if trials is not None:
        body.append(trials)
        summarised += [*trials_run_ids, *trial_ids]
    body.append(Section("Environment", table=tables.environment(runs)))
    files = write(f"Ablation on {data.title}: from the tutorial's setup to our default", intro, body, out_dir, STEM)
    if not log_to_mlflow:
        return files
    tags = {"report_kind": "ablation", "report_parent_run_id": parent_run_id, "report_runs": ",".join(frame["run_id"])}
    return log(files, uri, parent["experiment_id"], f"report {STEM} {parent_run_id[:8]}", tags, summarised)
