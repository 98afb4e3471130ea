"""A search trial's side in its job: which trial it is (a file the sweeper leaves in the sweep folder,
read also on other nodes sharing it), each epoch's report to the study, and the stop its pruner asks for.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import optuna
from optuna.exceptions import UpdateFinishedTrialError

from mlpbench.search.settings import OBJECTIVES, SearchSettings, make_pruner
from mlpbench.search.study import open_study
from mlpbench.signals import Terminated
from mlpbench.stopping import StoppedEarly
from mlpbench.training import EpochMetrics

TRIALS_DIR = ".optuna_trials"
STATE_TAG, NUMBER_TAG, STUDY_TAG, PRUNED_TAG = "trial_state", "trial_number", "study", "pruned_at_epoch"


@dataclass(frozen=True)
class TrialInfo:
    storage: str
    study_name: str
    number: int
    trial_id: int
    objective: str
    direction: str
    pruner: str
    pruner_startup_trials: int
    pruner_warmup_epochs: int
    max_epochs: int

    def tags(self) -> dict[str, str]:
        return {STUDY_TAG: self.study_name, NUMBER_TAG: str(self.number)}


def trial_file(sweep_dir: Path, job: int) -> Path:
    return Path(sweep_dir) / TRIALS_DIR / f"job-{job}.json"


def write_trial(sweep_dir: Path, job: int, info: TrialInfo) -> None:
    path = trial_file(sweep_dir, job)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(asdict(info)))
    os.replace(tmp, path)


def read_trial(sweep_dir: Path, job: int) -> TrialInfo | None:
    """The trial a search sweep gave job ``job``, or None (an ordinary sweep's job)."""
    path = trial_file(sweep_dir, job)
    return TrialInfo(**json.loads(path.read_text())) if path.is_file() else None


class TrialPruned(StoppedEarly):
    """The study's pruner stopped the trial after ``epoch`` epochs; ``value``: its last reported value."""

    def __init__(self, info: TrialInfo, epoch: int, value: float):
        metric = OBJECTIVES[info.objective].metric
        super().__init__(epoch, f"Pruned at epoch {epoch} of at most {info.max_epochs} by the study's {info.pruner} "
                         f"pruner ({metric} {value:.4g}); trial {info.number} of study {info.study_name}. "
                         "Its run ended FINISHED: the trial stopped on purpose, it did not fail.",
                         {STATE_TAG: "PRUNED", PRUNED_TAG: str(epoch), **info.tags()})
        self.value = value


class Reporter:
    """The epoch callback of a trial's fit: report the objective's metric, stop when the pruner says so."""

    def __init__(self, info: TrialInfo):
        settings = SearchSettings(info.study_name, info.storage, "random", info.pruner, info.objective, info.direction,
                                  1, 1, None, 1, info.pruner_startup_trials, info.pruner_warmup_epochs, {})
        # a random sampler: opening the trial asks the sampler nothing costly; its params are already set
        study = open_study(info.storage, info.study_name, info.direction, optuna.samplers.RandomSampler(),
                           make_pruner(settings, info.max_epochs))
        self.info, self.trial = info, optuna.Trial(study, info.trial_id)
        self.metric = OBJECTIVES[info.objective].metric

    def __call__(self, m: EpochMetrics) -> None:
        value = m.as_dict()[self.metric]
        try:
            self.trial.report(value, m.epoch)
        except UpdateFinishedTrialError:  # the sweep stopped and ended its trials FAIL: stop as a stopped run
            raise Terminated(f"the study's sweep stopped; trial {self.info.number} of study {self.info.study_name} "
                             "was ended FAIL") from None
        if self.trial.should_prune():
            raise TrialPruned(self.info, m.epoch, value)


def outcome(info: TrialInfo, summary: dict) -> dict:
    """What a finished trial's job returns to the sweeper."""
    return {"state": "COMPLETE", "value": float(summary[OBJECTIVES[info.objective].summary]),
            "run_id": summary.get("run_id"), "epochs": int(summary.get("epochs", 0))}


def pruned_outcome(err: TrialPruned) -> dict:
    return {"state": "PRUNED", "value": err.value, "epochs": err.epoch}
