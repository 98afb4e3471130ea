"""The search space and settings: Hydra's override grammar -> Optuna distributions, and each bad input
refused in one line before anything is created."""
from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from mlpbench.config import ConfigError
from mlpbench.config.store import register_configs
from mlpbench.search.plan import is_search, search_plan
from mlpbench.search.space import parse_space, trial_overrides

from support import PROJECT_ROOT


def test_the_override_grammar_becomes_distributions():
    space, fixed = parse_space({
        "optim.lr": "tag(log, interval(0.001, 0.3))", "model.dropout": "interval(0.0, 0.5)",
        "train.epochs": "interval(2, 6)", "train.batch_size": "choice(32, 64)",
        "model.hidden_sizes": "choice([64], [128, 64])", "optim.momentum": "range(0.8, 1.0, 0.05)",
        "train.early_stopping_patience": "range(1, 4)", "train.seed": "3"})
    assert space == {
        "optim.lr": FloatDistribution(0.001, 0.3, log=True), "model.dropout": FloatDistribution(0.0, 0.5),
        "train.epochs": IntDistribution(2, 6), "train.batch_size": CategoricalDistribution((32, 64)),
        "model.hidden_sizes": CategoricalDistribution(("[64]", "[128,64]")),
        "optim.momentum": FloatDistribution(0.8, 0.95, step=0.05),
        "train.early_stopping_patience": IntDistribution(1, 3)}
    assert fixed == {"train.seed": "3"}
    assert trial_overrides({"model.hidden_sizes": "[128,64]", "optim.lr": 0.01}, fixed) == [
        "train.seed=3", "model.hidden_sizes=[128,64]", "optim.lr=0.01"]


@pytest.mark.parametrize("text, words", [
    ("interval(0.3, 0.1)", "an empty interval"),
    ("range(5, 1)", "an empty range"),
    ("tag(log, interval(0, 1))", "a log interval needs low > 0"),
    ("choice(1, 1)", "listed twice"),
    ("choice(", "cannot read"),
])
def test_a_bad_range_is_one_line_naming_the_key(text, words):
    with pytest.raises(ConfigError) as err:
        parse_space({"optim.lr": text})
    message = str(err.value)
    assert message.startswith("hydra.sweeper.params.optim.lr") and words in message and "\n" not in message


def composed(*overrides: str):
    register_configs()
    with initialize_config_dir(str(PROJECT_ROOT / "conf"), version_base=None):
        return compose("config", overrides=["hydra/sweeper=optuna", "train.epochs=3", *overrides],
                       return_hydra_config=True)


def test_the_default_search_composes_into_a_plan(tmp_path):
    cfg = composed("hparams_search=default")
    assert is_search(cfg)
    plan = search_plan(cfg, tmp_path, arguments=["train.epochs=3"])
    assert set(plan.space) == {"optim.lr", "train.batch_size", "model.dropout", "model.hidden_sizes"}
    assert plan.storage == str(tmp_path / "optuna" / "default.journal")
    assert plan.epochs == (3, 3) and plan.settings.direction == "maximize"
    assert not (tmp_path / "optuna").exists()  # a plan creates nothing


@pytest.mark.parametrize("name", sorted(p.stem for p in (PROJECT_ROOT / "conf" / "hparams_search").glob("*.yaml")))
def test_every_search_in_conf_composes_into_a_plan_whose_pruner_has_epochs_to_judge(tmp_path, name):
    cfg = composed(f"hparams_search={name}", "train.epochs=30")
    plan = search_plan(cfg, tmp_path, arguments=[])
    assert plan.space and plan.storage == str(tmp_path / "optuna" / f"{cfg.hydra.sweeper.study_name}.journal")
    assert cfg.hydra.sweeper.pruner_warmup_epochs < min(plan.epochs)


@pytest.mark.parametrize("overrides, arguments, words", [
    ((), ["optim.lrr=interval(0.1, 0.2)"], "hydra.sweeper.params.optim.lrr: not a key of the config"),
    ((), ["optim.lr=interval(0.2, 0.1)"], "an empty interval"),
    (("hydra.sweeper.sampler=cmaes",), ["train.batch_size=choice(32, 64)"],
     "sampler=cmaes cannot sample the choice(...) of train.batch_size"),
    (("train.epochs=1",), ["optim.lr=interval(0.1, 0.2)"], "a one-epoch trial has nothing to prune"),
    (("hydra.sweeper.sampler=grid",), ["optim.lr=interval(0.1, 0.2)"], "hydra.sweeper.sampler=grid: unknown"),
    (("hydra.sweeper.objective=test_acc",), ["optim.lr=interval(0.1, 0.2)"], "objective=test_acc: unknown"),
    (("hydra.sweeper.n_trials=0",), ["optim.lr=interval(0.1, 0.2)"], "n_trials=0: must be at least 1"),
    ((), ["train.epochs=3"], "nothing to search"),
])
def test_bad_search_settings_are_one_line(tmp_path, overrides, arguments, words):
    with pytest.raises(ConfigError) as err:
        search_plan(composed(*overrides), tmp_path, arguments=arguments)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_cmaes_takes_intervals(tmp_path):
    plan = search_plan(composed("hydra.sweeper.sampler=cmaes"), tmp_path,
                       arguments=["optim.lr=tag(log, interval(0.01, 0.3))", "model.dropout=interval(0.0, 0.3)"])
    assert plan.settings.sampler == "cmaes"


def test_a_trial_left_running_by_a_dead_sweep_is_failed_on_resume(tmp_path):
    import optuna
    from optuna.trial import TrialState

    from mlpbench.processes import process_tag
    from mlpbench.search.study import SWEEPER_ATTR, claim, fail_stale, open_study

    spec = str(tmp_path / "s.journal")
    study = open_study(spec, "s", "maximize", create=True)
    dead, mine = study.ask(), study.ask()
    dead.set_user_attr(SWEEPER_ATTR, process_tag().rsplit(":", 2)[0] + ":999999999:0")  # this host, no such pid
    claim(mine)
    assert fail_stale(study) == [dead.number]
    states = {t.number: t.state for t in optuna.load_study(study_name="s", storage=study._storage).trials}
    assert states == {dead.number: TrialState.FAIL, mine.number: TrialState.RUNNING}


def test_a_resume_with_another_space_or_direction_is_refused(tmp_path):
    from mlpbench.search.study import check_resume, check_space, open_study

    spec = str(tmp_path / "s.journal")
    check_resume(spec, "s", "maximize", {"optim.lr": "float [0.1, 0.2]"})
    assert not (tmp_path / "s.journal").exists()  # nothing to resume: nothing created
    check_space(open_study(spec, "s", "maximize", create=True), {"optim.lr": "float [0.1, 0.2]"}, spec, 3)
    check_resume(spec, "s", "maximize", {"optim.lr": "float [0.1, 0.2]"})  # the same search resumes
    with pytest.raises(ConfigError, match="searches .* resume it with the same hydra.sweeper.params"):
        check_resume(spec, "s", "maximize", {"optim.lr": "float [0.1, 0.3]"})
    with pytest.raises(ConfigError, match="was started to maximize, this search would minimize"):
        check_resume(spec, "s", "minimize", {"optim.lr": "float [0.1, 0.2]"})
