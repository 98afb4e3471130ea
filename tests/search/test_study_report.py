"""The study report: counts by state, epochs saved by pruning, importances, history, the best trial as a preset."""
from __future__ import annotations

import optuna
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from mlpbench.report.study import build_study
from mlpbench.search.study import check_space, open_study


def test_the_report_tells_states_apart_and_writes_the_best_as_a_preset(tmp_path):
    spec = str(tmp_path / "s.journal")
    study = open_study(spec, "s", "maximize", optuna.samplers.RandomSampler(seed=0), create=True)
    check_space(study, {"optim.lr": "log float [0.001, 0.3]", "model.hidden_sizes": "choice([16], [32,16])"}, spec, 4)
    space = {"optim.lr": FloatDistribution(0.001, 0.3, log=True),
             "model.hidden_sizes": CategoricalDistribution(("[16]", "[32,16]"))}
    for number in range(6):
        trial = study.ask(space)
        epochs = 2 if number in (2, 4) else 4  # trials 2 and 4 pruned after 2 of 4 epochs
        for epoch in range(1, epochs + 1):
            trial.report(0.1 * number + 0.01 * epoch, epoch)
        state = TrialState.PRUNED if number in (2, 4) else TrialState.FAIL if number == 5 else TrialState.COMPLETE
        study.tell(trial, 0.1 * number if state == TrialState.COMPLETE else None, state=state)
    files = build_study(spec, "s", tmp_path / "reports")
    text = files.markdown.read_text()
    assert "| 3 | 2 | 1 | 0 | 16 | 4 |" in text  # complete, pruned, failed, running; epochs trained (finished trials), saved
    assert "## Parameter importances (Optuna, fANOVA)" in text and "| optim.lr |" in text
    assert files.figure.is_file()
    preset = yaml.safe_load(files.preset.read_text())
    best = study.best_trial
    assert best.number == 3
    assert preset == {"preset": "search_s", "optim": {"lr": best.params["optim.lr"]},
                      "model": {"hidden_sizes": yaml.safe_load(best.params["model.hidden_sizes"])}}
    assert files.preset.read_text().startswith("# @package _global_\n")
