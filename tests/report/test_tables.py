"""Tables and the title from hand-made runs (DataFrames shaped like ``runs.tidy``'s; no MLflow)."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from mlpbench.report import dataset, tables
from mlpbench.report.comparison import bar_values, title


def test_title_falls_back_to_the_dataset_tag_then_to_a_generic_name():
    runs = pd.DataFrame({"backend": ["torch", "numpy", "no-such-backend"],
                         "tags.dataset": ["fashion", "fashion", "fashion"]})
    head = "mlpbench: NumPy (from scratch) vs PyTorch vs no-such-backend on"

    def named(frame: pd.DataFrame) -> str:
        return title(frame, dataset.of(frame, "fix"))

    assert named(runs) == f"{head} fashion"
    assert named(runs.assign(**{"tags.dataset_title": ["Fashion-MNIST", None, None]})) == f"{head} Fashion-MNIST"
    assert named(runs[["backend"]].assign(**{"params.data.name": "digits"})) == f"{head} digits"
    assert named(runs[["backend"]]) == f"{head} the data set"


def test_environment_shows_one_value_or_each_runs_own():
    runs = pd.DataFrame({"name": ["a", "b"], "tags.cpu": ["X", "X"], "tags.git_commit": ["111", "222"]})
    env = dict(tables.environment(runs).itertuples(index=False))
    assert env["CPU"] == "X" and env["git commit"] == "111: a; 222: b" and env["Python"] == "—"


def test_environment_lists_a_backend_library_only_where_a_run_recorded_it():
    numpy_only = pd.DataFrame({"name": ["a"], "tags.numpy_version": ["2.4"]})
    assert "PyTorch" not in set(tables.environment(numpy_only)["item"])
    both = numpy_only.assign(**{"tags.torch_version": ["2.13"]})
    items = list(tables.environment(both)["item"])
    assert items[items.index("NumPy") + 1] == "PyTorch"


def test_environment_counts_the_runs_of_a_value_shared_by_many():
    runs = pd.DataFrame({"name": list("abcdef"), "tags.git_commit": ["111"] * 4 + ["222"] * 2})
    env = dict(tables.environment(runs).itertuples(index=False))
    assert env["git commit"] == "111: 4 runs; 222: e, f"


def test_configuration_joins_the_distinct_values_of_a_group():
    runs = pd.DataFrame({"run_id": ["1", "2", "3"], "group": ["g", "g", "h"], "params.optim.lr": ["0.1", "0.2", "0.1"],
                         "params.train.seed": ["0", "0", None], "params.schedule.gamma": [None, None, "0.5"]})
    config = tables.configuration(runs).set_index("setting")
    assert list(config.columns) == ["g", "h"]
    assert config.loc["learning rate"].tolist() == ["0.1 / 0.2", "0.1"]
    assert config.loc["seed"].tolist() == ["0", "—"] and config.loc["schedule.gamma"].tolist() == ["—", "0.5"]


def test_an_option_logged_only_when_on_gets_a_row_where_a_run_has_it_and_reads_off_elsewhere():
    runs = pd.DataFrame({"run_id": ["1", "2"], "group": ["default", "best"], "params.model.dropout": ["0.25", "0.5"]})
    assert "max-norm" not in set(tables.configuration(runs)["setting"])
    config = tables.configuration(runs.assign(**{"params.model.max_norm": [None, "3.5"]}))
    settings = list(config["setting"])
    assert settings[settings.index("dropout") + 1] == "max-norm" and "input dropout" not in settings
    assert config.set_index("setting").loc["max-norm"].tolist() == ["off", "3.5"]
    shifted = tables.configuration(runs.assign(**{"params.train.batch_size": ["768", "512"],
                                                  "params.train.augment_shift": [None, "2"]}))
    settings = list(shifted["setting"])
    assert settings[settings.index("batch size") + 1] == "shifted images (pixels)"
    assert shifted.set_index("setting").loc["shifted images (pixels)"].tolist() == ["off", "2"]


def test_bars_show_accuracies_in_percent_per_group_and_backend_label():
    runs = pd.DataFrame({"run_id": ["1"], "name": ["a"], "backend": ["numpy"], "preset": ["default"],
                         "final/train_acc": [0.99], "final/val_acc": [0.98], "test/acc": [0.97],
                         "time/total_s": [12.0]})
    values = bar_values(tables.rows(runs, "mnist"))
    assert values["default"]["NumPy"] == pytest.approx(
        {"final/train_acc": 99.0, "final/val_acc": 98.0, "test/acc": 97.0, "time/total_s": 12.0})
    assert values["published"]["PyTorch"]["time/total_s"] == 12.8
    assert math.isnan(values["published"]["PyTorch"]["test/acc"])
