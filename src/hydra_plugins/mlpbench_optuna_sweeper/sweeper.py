"""The Optuna sweeper: asks the study for a batch of ``n_jobs`` trials, runs them through the configured
launcher (basic, joblib, local, slurm), tells the study each job's outcome, until the study holds
``n_trials`` finished (COMPLETE or PRUNED) trials.

Each trial's number and study go to its job in a file in the sweep folder (``mlpbench.search.trial``);
the job reports every epoch to the study and stops when the pruner says so. A job that fails is told
FAIL and the study goes on (up to ``max_failures`` in one sweep). If the sweep stops (SIGTERM, Ctrl-C,
``scancel``), the trials it asked and did not tell end FAIL; rerunning the same command resumes the study.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, List

import optuna
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from mlpbench import tracking
from mlpbench.search import tracked
from mlpbench.search.plan import SearchPlan, search_plan
from mlpbench.search.settings import SAMPLERS, make_pruner
from mlpbench.search.study import check_space, claim, fail_stale, finished, open_study, shown
from mlpbench.search.trial import TrialInfo, write_trial
from mlpbench.sweep import parent_run_id, project_root, write_swept

log = logging.getLogger(__name__)
STATES = {"COMPLETE": optuna.trial.TrialState.COMPLETE, "PRUNED": optuna.trial.TrialState.PRUNED}


class OptunaSweeper(Sweeper):
    def __init__(self, **node: Any) -> None:
        self.node = node

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(config=config, hydra_context=hydra_context,
                                                                task_function=task_function)

    def sweep(self, arguments: List[str]) -> optuna.Study:
        hc, root = self.config.hydra, project_root(self.config.hydra)
        plan = search_plan(self.config, root, arguments)
        s = plan.settings
        study = open_study(plan.storage, s.study_name, s.direction, SAMPLERS[s.sampler].make(s.seed),
                           make_pruner(s, plan.epochs[1]), create=True)
        check_space(study, plan.described(), plan.storage, plan.epochs[1])
        fail_stale(study)
        asked = len(study.get_trials(deepcopy=False))
        if asked and s.seed is not None:  # a resume: a sampler seeded as the first sweep's would redraw its points
            study.sampler = SAMPLERS[s.sampler].make(s.seed + asked)
        sweep_dir = Path(hc.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        write_swept(sweep_dir, [f"{k}=" for k in plan.space])  # the trials' run names show their values
        track = OmegaConf.select(self.config, "tracking", default={}) or {}
        uri = tracking.resolve_tracking_uri(root, track.get("uri"), server=bool(track.get("server")))
        parent = parent_run_id(hc)
        if parent:
            tracked.record_start(uri, parent, plan)
        log.info("study %s in %s: %d of %d trials finished; %s sampler, %s pruner, %s %s",
                 s.study_name, shown(plan.storage), finished(study), s.n_trials, s.sampler, s.pruner,
                 s.direction, s.objective)
        try:
            self._run(study, plan, sweep_dir, uri, parent)
        finally:
            if parent:
                tracked.record_end(uri, parent, study, plan)
        return study

    def _run(self, study: optuna.Study, plan: SearchPlan, sweep_dir: Path, uri: str, parent: str | None) -> None:
        s, job, failures = plan.settings, 0, 0
        while (done := finished(study)) < s.n_trials:
            if failures >= s.max_failures:
                raise RuntimeError(f"study {s.study_name}: {failures} trials failed in this sweep "
                                   f"(hydra.sweeper.max_failures={s.max_failures}); see their runs' errors")
            trials = [study.ask(dict(plan.space)) for _ in range(min(s.n_jobs, s.n_trials - done))]
            told: set[int] = set()
            try:
                for i, trial in enumerate(trials):
                    claim(trial)
                    write_trial(sweep_dir, job + i, self._info(plan, trial))
                returns = self.launcher.launch([plan.overrides(t.params) for t in trials], initial_job_idx=job)
                for trial, ret in zip(trials, returns):
                    state = _tell(study, trial, ret)
                    told.add(trial.number)
                    failures += state == "FAIL"
                    if parent:
                        tracked.record_trial(uri, parent, trial.number, state)
            finally:  # stopped mid-batch: no trial of this sweep stays RUNNING
                for trial in trials:
                    if trial.number not in told:
                        study.tell(trial.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
            job += len(trials)

    def _info(self, plan: SearchPlan, trial: optuna.Trial) -> TrialInfo:
        s = plan.settings
        epochs = int(trial.params.get("train.epochs", plan.epochs[1]))
        return TrialInfo(plan.storage, s.study_name, trial.number, trial._trial_id, s.objective, s.direction,
                         s.pruner, s.pruner_startup_trials, s.pruner_warmup_epochs, epochs)


def _tell(study: optuna.Study, trial: optuna.Trial, ret: JobReturn) -> str:
    """Tell the study the job's outcome; return the state told."""
    outcome = ret._return_value if ret.status == JobStatus.COMPLETED else None
    state = outcome.get("state") if isinstance(outcome, dict) else None
    value = outcome.get("value") if isinstance(outcome, dict) else None
    if state == "COMPLETE" and value is not None and math.isfinite(value):
        study.tell(trial, value)
    elif state == "PRUNED":
        study.tell(trial, state=STATES["PRUNED"])
    else:
        why = ret._return_value if ret.status == JobStatus.FAILED else f"returned {outcome!r}"
        log.warning("trial %d FAIL: %s", trial.number, str(why).splitlines()[0] if str(why) else type(why).__name__)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return "FAIL"
    log.info("trial %d %s: %s %.4g after %s epochs, %s", trial.number, state, study.metric_names or "value", value,
             outcome.get("epochs"), dict(trial.params))
    return state
