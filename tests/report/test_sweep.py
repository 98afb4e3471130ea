"""The sweep report from a parent run's children or an experiment's runs, and its errors."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp

from mlpbench import figures, stats
from mlpbench.report import ReportError, build_sweep
from mlpbench.report.sweep import MixedPresetsError, series, sort_key, swept_params

from .conftest import SWEEP_EXPERIMENT, SWEEP_LRS, TUTORIAL, log_run
from .helpers import PNG_MAGIC, pct, table

HEADER = ["run name", "backend", "optim.lr", "seeds", "val acc ± 95 % CI", "test acc ± 95 % CI", "median epoch",
          "MLflow run"]


@pytest.fixture(scope="module")
def parent_report(store, tmp_path_factory):
    return build_sweep(store.uri, tmp_path_factory.mktemp("sweep"), parent_run_id=store.parent_run_id,
                       log_to_mlflow=False)


def test_a_parents_report_lists_every_child_as_recorded(store, client, parent_report):
    md = parent_report.markdown.read_text()
    assert parent_report.markdown.name == f"sweep_{store.parent_run_id[:8]}_sweep_test.md"
    header, *body = table(md, "Runs")
    assert header == HEADER
    by_backend_then_lr = [store.child_run_ids[i] for i in (1, 0, 2)]  # 3e-3 < 0.03 as numbers; 3 FAILED
    assert [row[-1] for row in body] == [f"`{r}`" for r in by_backend_then_lr]
    for row, run_id in zip(body, by_backend_then_lr):
        run = client.get_run(run_id)
        m = run.data.metrics
        assert row[:-1] == [run.info.run_name, run.data.params["backend"], run.data.params["optim.lr"],
                            "1 (no interval)", pct(m["final/val_acc"]), pct(m["test/acc"]),
                            f"{m['time/epoch_median_s']:.2f} s"]
    assert "4 runs, 3 finished (only these are compared), 3 configurations. Swept parameters: backend, optim.lr." in md
    header, *others = table(md, "Runs that did not finish")
    assert header == ["run name", "backend", "status", "error / killed reason", "MLflow run"]
    assert others == [["sweep torch lr3e-3", "torch", "FAILED", "RuntimeError: boom", f"`{store.child_run_ids[3]}`"]]
    assert "overrides `backend=numpy,torch optim.lr=0.03,3e-3`" in md
    assert store.report_run_id not in md


def test_figures_plot_each_metric_against_the_swept_param(parent_report):
    assert [p.name for p in parent_report.figures] == ["val_acc_optim_lr.png", "epoch_time_optim_lr.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in parent_report.figures)
    assert parent_report.html.read_text().count('src="data:image/png;base64,') == 2


def test_series_are_means_per_backend_and_value_in_numeric_order_with_their_intervals():
    one = stats.over_seeds
    runs = pd.DataFrame({"backend": ["torch", "numpy", "numpy", "numpy"],
                         "params.optim.lr": ["0.1", "0.1", "5e-3", "0.03"],
                         "val": [one([0.5]), one([0.8, 0.9]), one([0.7]), one([0.6])]})
    found = series(runs, "optim.lr", "val", 100.0)
    assert [p[:2] for p in found["NumPy"]] == [("5e-3", pytest.approx(70.0)), ("0.03", pytest.approx(60.0)),
                                              ("0.1", pytest.approx(85.0))]
    low, high = (100 * v for v in sp.t.interval(0.95, 1, loc=0.85, scale=sp.sem([0.8, 0.9])))
    assert found["NumPy"][2][2:] == (pytest.approx(low), pytest.approx(high))  # its error bar
    assert all(np.isnan(p[2]) for p in found["NumPy"][:2])  # one seed: no bar
    assert [p[:2] for p in found["PyTorch"]] == [("0.1", pytest.approx(50.0))]


def test_an_experiments_report_with_a_filter(store, client, tmp_path):
    files = build_sweep(store.uri, tmp_path, experiment=SWEEP_EXPERIMENT, filter_string="params.backend = 'numpy'",
                        log_to_mlflow=False)
    md = files.markdown.read_text()
    names = [row[0] for row in table(md, "Runs")[1:]]
    assert names == [f"sweep numpy lr{lr}" for lr in reversed(SWEEP_LRS)]
    assert store.parent_run_id not in md and store.report_run_id not in md
    assert "filter `params.backend = 'numpy'`" in md
    assert files.markdown.name.startswith("experiment_sweep_test_params_backend_numpy_")
    assert "Swept parameters: optim.lr." in md and table(md, "Runs")[0] == HEADER


def test_when_only_the_backend_varies_there_are_no_figures(store, tmp_path):
    files = build_sweep(store.uri, tmp_path, experiment=SWEEP_EXPERIMENT, filter_string="params.optim.lr = '0.03'",
                        log_to_mlflow=False)
    assert files.figures == () and "Only the backend varies among these runs" in files.markdown.read_text()
    assert table(files.markdown.read_text(), "Runs")[0] == [h for h in HEADER if h != "optim.lr"]


def test_the_report_is_logged_and_the_next_one_leaves_it_out(store, client, tmp_path):
    first = build_sweep(store.uri, tmp_path / "a", experiment=SWEEP_EXPERIMENT)
    run = client.get_run(first.report_run_id)
    assert run.data.tags["report"] == "true" and run.data.tags["report_kind"] == "sweep"
    assert client.get_experiment(run.info.experiment_id).name == SWEEP_EXPERIMENT + "-reports"
    compared = run.data.tags["report_runs"].split(",")
    assert compared and all(client.get_run(r).data.tags["report_run_id"] == run.info.run_id for r in compared)
    again = build_sweep(store.uri, tmp_path / "b", experiment=SWEEP_EXPERIMENT, log_to_mlflow=False)
    assert again.markdown.read_bytes() == first.markdown.read_bytes()


def test_a_logged_sweep_report_is_linked_from_its_parent(store, client, tmp_path):
    files = build_sweep(store.uri, tmp_path, parent_run_id=store.parent_run_id)
    parent = client.get_run(store.parent_run_id).data.tags
    assert parent["report_run_id"] == files.report_run_id
    assert client.get_run(files.report_run_id).data.tags["report_parent_run_id"] == store.parent_run_id
    assert "report_run_id" not in client.get_run(store.child_run_ids[3]).data.tags  # FAILED: not compared


def test_unknown_experiment_fails_naming_it_and_the_known_ones(store, tmp_path):
    with pytest.raises(ReportError) as err:
        build_sweep(store.uri, tmp_path, experiment="no-such-experiment", filter_string="params.backend = 'numpy'")
    message = str(err.value)
    assert "no-such-experiment" in message and store.uri in message and "params.backend = 'numpy'" in message
    assert SWEEP_EXPERIMENT in message


def test_unknown_parent_empty_results_and_bad_filters_fail_clearly(store, tmp_path):
    with pytest.raises(ReportError, match="0{32} not found"):
        build_sweep(store.uri, tmp_path, parent_run_id="0" * 32)
    with pytest.raises(ReportError, match="no runs in experiment 'sweep-test'.*params.backend = 'no-such-backend'"):
        build_sweep(store.uri, tmp_path, experiment=SWEEP_EXPERIMENT,
                    filter_string="params.backend = 'no-such-backend'")
    with pytest.raises(ReportError, match="check the filter syntax"):
        build_sweep(store.uri, tmp_path, experiment=SWEEP_EXPERIMENT, filter_string="params.backend ==")


def test_numbers_and_lists_sort_by_value_not_text():
    values = ["[256]", "[64, 32]", "[128, 64]", "[64]", "0.1", "5e-3", "relu"]
    assert sorted(values, key=sort_key) == ["5e-3", "0.1", "[64]", "[64, 32]", "[128, 64]", "[256]", "relu"]


DEFAULT_ONLY = "params.preset = 'default'"


def test_only_really_varying_non_machine_keys_of_finished_runs_are_swept(store, hidden, tmp_path):
    files = build_sweep(store.uri, tmp_path, experiment="sweep-hidden", filter_string=DEFAULT_ONLY,
                        log_to_mlflow=False)
    md = files.markdown.read_text()
    assert "5 runs, 4 finished (only these are compared), 4 configurations. Swept parameters: backend, model.hidden_sizes." in md
    assert [row[0] for row in table(md, "Runs")[1:]] == ["numpy [64]", "numpy [256]", "torch [64]", "torch [256]"]
    assert table(md, "Runs that did not finish")[1][:4] == ["killed", "numpy", "KILLED", "SIGTERM"]
    assert "killed" not in [row[0] for row in table(md, "Runs")[1:]]
    assert [p.name for p in files.figures] == ["val_acc_model_hidden_sizes.png", "epoch_time_model_hidden_sizes.png"]


def test_files_are_named_after_the_selection(store, hidden, tmp_path):
    one = build_sweep(store.uri, tmp_path, experiment="sweep-hidden", filter_string=DEFAULT_ONLY, log_to_mlflow=False)
    two = build_sweep(store.uri, tmp_path, experiment="sweep-hidden",
                      filter_string=DEFAULT_ONLY + " and params.backend = 'numpy'", log_to_mlflow=False)
    assert one.markdown.name.startswith("experiment_sweep_hidden_params_preset_default_")
    assert one.markdown != two.markdown and one.markdown.is_file() and two.markdown.is_file()


def test_mixed_presets_are_refused_unless_asked(store, hidden, tmp_path):
    with pytest.raises(MixedPresetsError, match="presets default, tutorial.*params.preset = 'default'.*--mixed-presets"):
        build_sweep(store.uri, tmp_path, experiment="sweep-hidden", log_to_mlflow=False)
    files = build_sweep(store.uri, tmp_path, experiment="sweep-hidden", log_to_mlflow=False, mixed_presets=True)
    assert "preset" in files.markdown.read_text().split("Swept parameters:")[1].split("\n")[0]


def test_equal_series_stay_visible(monkeypatch, tmp_path):
    saved = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: saved.setdefault("fig", fig))
    same = [("[64]", 97.2), ("[256]", 97.2)]
    figures.against_param({"NumPy": same, "PyTorch": same}, tmp_path / "x.png", "h", "acc", order=["[64]", "[256]"])
    a, b = saved["fig"].axes[0].get_lines()
    assert a.get_marker() != b.get_marker()
    assert list(a.get_xdata()) != list(b.get_xdata()) and abs(a.get_xdata()[0] - b.get_xdata()[0]) < 0.2


def test_html_keeps_a_value_and_its_unit_together(parent_report):
    html = parent_report.html.read_text()
    assert "&nbsp;%</td>" in html and "white-space: nowrap" in html and not re.search(r"\d %</td>", html)


def test_params_that_only_some_runs_log_or_the_data_set_are_never_swept():
    runs = pd.DataFrame({"params.backend": ["numpy", "numpy", "torch", "torch"],
                         "params.optim.lr": ["0.1", "0.01", "0.1", "0.01"],
                         "params.torch.compile": [None, None, "False", "True"],
                         "params.torch.autocast": [None, None, "none", "none"],
                         "params.data.name": ["mnist", "digits", "mnist", "digits"]})
    assert swept_params(runs) == ["backend", "optim.lr"]
    assert swept_params(runs[runs["params.backend"] == "torch"]) == ["optim.lr", "torch.compile"]


@pytest.fixture(scope="module")
def backends_sweep(client) -> str:
    """A sweep parent whose numpy and torch children go over optim.lr; only torch's log torch.* params."""
    exp = client.create_experiment("sweep-backends")
    parent = client.create_run(exp, run_name="sweep backends", tags={
        "sweep": "parent", "sweep_overrides": "backend=numpy,torch optim.lr=0.1,0.01"}).info.run_id
    torch_params = {"torch.autocast": "none", "torch.compile": "False", "torch.optimizer_impl": "foreach"}
    for i, (backend, lr) in enumerate((b, lr) for b in ("numpy", "torch") for lr in ("0.1", "0.01")):
        log_run(client, exp, f"{backend} lr{lr}", backend, "default",
                {**TUTORIAL, "optim.lr": lr, **(torch_params if backend == "torch" else {})},
                (0.96, 0.95 + i / 100, 0.94), 3.0 + i, tags={"mlflow.parentRunId": parent})
    client.set_terminated(parent, "FINISHED")
    return parent


def test_a_sweep_of_both_backends_sweeps_only_what_every_run_logs(store, backends_sweep, tmp_path):
    files = build_sweep(store.uri, tmp_path, parent_run_id=backends_sweep, log_to_mlflow=False)
    md = files.markdown.read_text()
    assert "4 runs, 4 finished (only these are compared), 4 configurations. Swept parameters: backend, optim.lr." in md
    assert table(md, "Runs")[0][:3] == ["run name", "backend", "optim.lr"]
    assert [p.name for p in files.figures] == ["val_acc_optim_lr.png", "epoch_time_optim_lr.png"]
    assert md.startswith("# Sweep report: sweep backends on MNIST\n")
