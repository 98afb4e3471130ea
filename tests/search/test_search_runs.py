"""Studies on tiny data through pipelines/train.py: pruning, a crashing trial, parallel trials, a kill and a resume."""
from __future__ import annotations

import signal
import subprocess
import time

import pytest
from optuna.trial import TrialState

from helpers import env, runs, search_command, study, trial_runs
from support import run_checked

pytestmark = pytest.mark.slow
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def test_a_serial_study_prunes_and_survives_a_diverging_trial(tiny_root):
    # RandomSampler(seed=35) draws lr 0.1, 1e-05, 80.0, 1e-05: a good trial, one the median pruner stops
    # after its first epoch, one that diverges, and another to prune
    out = run_checked(search_command(tiny_root, "serial", "hydra.sweeper.sampler=random", "hydra.sweeper.seed=35",
                               "hydra.sweeper.n_trials=3", "hydra.sweeper.pruner_startup_trials=1",
                               "hydra.sweeper.pruner_warmup_epochs=0", "optim.lr=choice(0.1,0.00001,80.0)"),
                tiny_root, env())
    assert "1 of 4 jobs FINISHED (2 more pruned)" in out and "PRUNED e1" in out, out
    trials = study(tiny_root, "serial").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.PRUNED]
    assert [len(t.intermediate_values) for t in trials] == [3, 1, 0, 1]
    by_number = {int(r.data.tags["trial_number"]): r for r in trial_runs(tiny_root)}
    assert sorted(by_number) == [0, 1, 2, 3]
    assert [by_number[n].info.status for n in range(4)] == ["FINISHED", "FINISHED", "FAILED", "FINISHED"]
    pruned = by_number[1].data.tags
    assert pruned["trial_state"] == "PRUNED" and pruned["pruned_at_epoch"] == "1"
    assert "Pruned at epoch 1" in pruned["mlflow.note.content"]
    assert by_number[2].data.tags["trial_state"] == "FAIL" and "diverged" in by_number[2].data.tags["error"]
    parent = next(r for r in runs(tiny_root) if r.data.tags.get("search") == "optuna")
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["trials_pruned"] == 2 and parent.data.metrics["epochs_saved"] == 4
    assert parent.data.params["sampler"] == "random" and parent.data.params["pruner"] == "median"
    assert parent.data.metrics["best_value"] == trials[0].value


def test_parallel_trials_are_neither_lost_nor_doubled(tiny_root):
    run_checked(search_command(tiny_root, "parallel", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                               "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=2", "hydra.sweeper.pruner=none",
                               "train.epochs=2", "optim.lr=tag(log,interval(0.01,0.2))"), tiny_root, env())
    trials = study(tiny_root, "parallel").trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    by_number = sorted((int(r.data.tags["trial_number"]), r.info.status) for r in trial_runs(tiny_root))
    assert by_number == [(0, "FINISHED"), (1, "FINISHED")]  # one run each, no more
    # each run trained its own trial's values
    for r in trial_runs(tiny_root):
        assert float(r.data.params["optim.lr"]) == pytest.approx(trials[int(r.data.tags["trial_number"])].params["optim.lr"])


def test_a_killed_study_leaves_nothing_running_and_resumes(tiny_root):
    cmd = search_command(tiny_root, "killed", "hydra.sweeper.n_trials=2", "hydra.sweeper.pruner=none",
                         "train.epochs=40", "optim.lr=tag(log,interval(0.01,0.2))")
    proc = subprocess.Popen(cmd, cwd=tiny_root, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not _training(tiny_root, "killed", 1):
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)  # the second trial is training (40 epochs, each logged: seconds)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert not [t for t in study(tiny_root, "killed").trials if t.state == TrialState.RUNNING]
    assert not [r for r in runs(tiny_root) if r.info.status == "RUNNING"]
    done_before = len([t for t in study(tiny_root, "killed").trials if t.state in FINISHED])
    assert done_before < 2

    run_checked([*cmd[:-1], f"hydra.sweep.dir={tiny_root / 'sweep2'}", cmd[-1]], tiny_root, env())
    trials = study(tiny_root, "killed").trials
    assert len([t for t in trials if t.state in FINISHED]) == 2
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert not [r for r in runs(tiny_root) if r.info.status == "RUNNING"]


def _training(root, name: str, number: int) -> bool:
    """Has trial ``number`` of the study reported an epoch yet?"""
    if not (root / "study.journal").exists():
        return False
    try:
        trials = study(root, name).trials
    except KeyError:  # the study is not created yet
        return False
    return len(trials) > number and len(trials[number].intermediate_values) > 0


def test_a_bad_search_stops_before_any_study_or_run(tiny_root):
    cmd = search_command(tiny_root, "bad", "hydra.sweeper.sampler=cmaes", "train.batch_size=choice(16,32)")
    done = subprocess.run(cmd, cwd=tiny_root, env=env(), capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last == ("sweep not started: hydra.sweeper.sampler=cmaes cannot sample the choice(...) of "
                    "train.batch_size; use sampler=tpe or random, or make them intervals"), done.stderr
    assert not (tiny_root / "study.journal").exists() and not (tiny_root / "mlflow.db").exists()
