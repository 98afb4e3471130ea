"""A search in MLflow: the sweep's parent run (made by ``mlpbench.sweep.MlflowSweepCallback``) carries the
study's settings, space and, as the study ends, its best value and params and its trial counts; each
trial's child run gets its trial number and state as tags."""
from __future__ import annotations

import json

import optuna

from mlpbench.search.plan import SearchPlan
from mlpbench.search.study import best, counts, epochs_of, shown
from mlpbench.search.trial import NUMBER_TAG, STATE_TAG
from mlpbench.tracking.studies import annotate_run, tag_child


def record_start(uri: str, parent_run_id: str, plan: SearchPlan) -> None:
    s = plan.settings
    annotate_run(uri, parent_run_id, params={
        "study": s.study_name, "storage": shown(plan.storage), "sampler": s.sampler, "pruner": s.pruner,
        "objective": s.objective, "direction": s.direction, "n_trials": s.n_trials, "n_jobs": s.n_jobs,
        "seed": s.seed, **{f"space.{k}": v for k, v in plan.described().items()}},
        tags={"search": "optuna", "study": s.study_name, "search_space": json.dumps(plan.described()),
              "mlflow.runName": f"study {s.study_name}: {s.sampler} sampler, {s.pruner} pruner, {s.objective}"})


def record_trial(uri: str, parent_run_id: str, number: int, state: str) -> None:
    tag_child(uri, parent_run_id, NUMBER_TAG, str(number), {STATE_TAG: state})


def record_end(uri: str, parent_run_id: str, study: optuna.Study, plan: SearchPlan) -> None:
    n, top = counts(study), best(study)
    metrics = {"trials_complete": n.get("COMPLETE", 0), "trials_pruned": n.get("PRUNED", 0),
               "trials_failed": n.get("FAIL", 0), **epochs_of(study, plan.epochs[1])}
    tags = {}
    if top is not None:
        metrics["best_value"] = top["value"]
        tags = {"best_trial": str(top["number"]), "best_params": json.dumps(top["params"])}
    annotate_run(uri, parent_run_id, metrics=metrics, tags=tags)
