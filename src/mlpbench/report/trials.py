"""The tutorial-reproduction trials: which training scheme, with the tutorial's net and init, gives
its published NumPy numbers (train 99.15 %, validation 90.65 %)?

The trials are the child runs of one or more sweeps. Each finished run is compared with the
published numbers at its last epoch and at the epoch of its curves that comes closest, so one long
run answers every shorter length too. The numbers were published for MNIST (``tables.PUBLISHED_DATASET``):
trials on another data set are listed without them. Every number comes from MLflow.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd

from mlpbench.report import format as fmt
from mlpbench.report import tables
from mlpbench.report.render import Section
from mlpbench.report import dataset
from mlpbench.report.dataset import UNRECORDED, DataSet, MixedDatasetsError
from mlpbench.report.runs import ReportError, history, load_sweep
from mlpbench.report.sweep import MACHINE_KEYS, finished_only, sort_key, swept_params

TARGET = tables.TUTORIAL_PUBLISHED["numpy"]  # what the trials aim at
HEADING = "The tutorial's numbers: reproduction trials"
# A trial matches when it is this close to the published validation accuracy and train/val gap.
MATCH_VAL, MATCH_GAP = 0.005, 0.01


def closest_epoch(uri: str, run_id: str) -> dict[str, float]:
    """The epoch of a run whose validation accuracy and train/val gap come closest to the published ones
    (the sum of both distances), with its train and validation accuracy."""
    curves = history(uri, run_id)
    gap = TARGET["final/train_acc"] - TARGET["final/val_acc"]
    best = min(range(len(curves["epoch"])), default=None,
               key=lambda i: abs(curves["val/acc"][i] - TARGET["final/val_acc"])
               + abs(curves["train/acc"][i] - curves["val/acc"][i] - gap))
    if best is None:
        return {}
    return {"near_epoch": curves["epoch"][best], "near_train": curves["train/acc"][best],
            "near_val": curves["val/acc"][best]}


def against_target(uri: str, runs: pd.DataFrame, sweeps: str) -> tuple[pd.DataFrame, tables.Columns, tuple[str, ...]]:
    """(the runs with their distances to the published numbers, those columns, the text) for MNIST trials."""
    gap = TARGET["final/train_acc"] - TARGET["final/val_acc"]
    runs = runs.assign(d_val=runs["final/val_acc"] - TARGET["final/val_acc"], d_gap=runs["gap"] - gap)
    runs = runs.assign(match=[("yes" if abs(v) <= MATCH_VAL and abs(g) <= MATCH_GAP else "no")
                              for v, g in zip(runs["d_val"], runs["d_gap"])])
    near = pd.DataFrame([closest_epoch(uri, r) for r in runs["run_id"]], index=runs.index)
    runs = runs.join(near.reindex(columns=["near_epoch", "near_train", "near_val"]))
    columns = (("d_val", "val − 90.65", fmt.points), ("d_gap", "gap − 8.50", fmt.points),
               ("match", "match", fmt.text), ("near_epoch", "closest epoch", fmt.count),
               ("near_train", "its train acc", fmt.pct), ("near_val", "its val acc", fmt.pct))
    matches = runs[runs["match"] == "yes"]
    text = (f"Trials (child runs of the sweeps {sweeps}) of the tutorial's net and init, aiming at its published "
            f"NumPy numbers: train {fmt.pct(TARGET['final/train_acc'])}, validation {fmt.pct(TARGET['final/val_acc'])} "
            f"(gap {fmt.points(gap)}). Train accuracy is the mean over an epoch's batches in training mode (with "
            "full-batch gradient descent: the accuracy just before the epoch's one step). The closest epoch is the "
            "epoch of the run whose validation accuracy and gap, summed distances, come nearest the published ones.",
            f"{len(matches)} of {len(runs)} trials end within {100 * MATCH_VAL:.1f} points of the published "
            f"validation accuracy and {100 * MATCH_GAP:.1f} points of its gap: "
            + (", ".join(matches["name"]) if len(matches) else "none") + ".")
    return runs, columns, text


def trials_section(uri: str, trials_run_ids: Sequence[str], ui_url: str | None,
                   data: DataSet | None = None) -> tuple[Section, list[str]]:
    """The reproduction trials (the child runs of one or more sweeps): each finished run's settings,
    train and validation accuracy and their gap against the published ones, at the last epoch and at
    the epoch that comes closest. The published ones are MNIST's: trials of another data set get
    their accuracies alone and a sentence saying so.

    data: the data set of the report's other runs; trials of another one raise ``MixedDatasetsError``.
    """
    loaded = [load_sweep(uri, run_id, None, "") for run_id in trials_run_ids]
    every = pd.concat([frame for _, frame in loaded], ignore_index=True)
    runs, others = finished_only(every)
    if runs.empty:
        raise ReportError(f"none of the {len(every)} runs of the trials sweep(s) {', '.join(trials_run_ids)} "
                          "FINISHED; rerun them")
    found = dataset.of(runs, "pass --trials sweeps of one data set")
    if data is not None and found.name != data.name:
        raise MixedDatasetsError(f"the trials sweep(s) {', '.join(trials_run_ids)} trained on "
                                 f"{found.name or UNRECORDED}, the ablation on {data.name or UNRECORDED}; pass "
                                 "--trials sweeps of the ablation's data set")
    params = [p for p in swept_params(runs) if p not in MACHINE_KEYS]
    runs = runs.assign(gap=runs["final/train_acc"] - runs["final/val_acc"])
    sweeps = ", ".join(f"{fmt.run_ref(ui_url, parent['experiment_id'], parent['run_id'])} "
                       f"({fmt.code(parent['tags'].get('sweep_overrides', fmt.MISSING))})" for parent, _ in loaded)
    if tables.has_published(found.name):
        runs, target, text = against_target(uri, runs, sweeps)
    else:
        target, text = (), (f"Trials (child runs of the sweeps {sweeps}) of the tutorial's net and init on "
                            f"{found.title}. {tables.no_published(found.title)}",)
    runs = runs.sort_values(["backend", *(f"params.{p}" for p in params)], key=lambda s: s.map(sort_key))
    refs = [fmt.run_ref(ui_url, e, r) for e, r in zip(runs["experiment_id"], runs["run_id"])]
    columns = (*((f"params.{p}", p, fmt.text) for p in params),
               ("final/train_acc", "train acc", fmt.pct), ("final/val_acc", "val acc", fmt.pct),
               ("gap", "gap", fmt.points), *target,
               ("time/train_s", "training", fmt.seconds), ("ref", "MLflow run", fmt.text))
    unfinished = [f"Trials that did not finish: {', '.join(others['name'])}."] if len(others) else []
    return Section(HEADING, text=text,
                   table=tables.table(runs.assign(ref=refs), columns), notes=tuple(unfinished)), list(runs["run_id"])
