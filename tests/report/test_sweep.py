"""The sweep report from a parent run's children or an experiment's runs, and its errors."""
from __future__ import annotations

import pandas as pd
import pytest

from mlpbench.report import ReportError, build_sweep
from mlpbench.report.sweep import series

from .conftest import SWEEP_EXPERIMENT, SWEEP_LRS
from .helpers import PNG_MAGIC, pct, table

HEADER = ["run name", "backend", "optim.lr", "status", "val acc", "test acc", "median epoch", "MLflow run"]


@pytest.fixture(scope="module")
def parent_report(store, tmp_path_factory):
    return build_sweep(store.uri, tmp_path_factory.mktemp("sweep"), parent_run_id=store.parent_run_id,
                       log_to_mlflow=False)


def test_a_parents_report_lists_every_child_as_recorded(store, client, parent_report):
    md = parent_report.markdown.read_text()
    assert parent_report.markdown.name == f"sweep_{store.parent_run_id}.md"
    header, *body = table(md, "Runs")
    assert header == HEADER
    by_backend_then_lr = [store.child_run_ids[i] for i in (1, 0, 3, 2)]  # 3e-3 < 0.03 as numbers
    assert [row[-1] for row in body] == [f"`{r}`" for r in by_backend_then_lr]
    for row, run_id in zip(body, by_backend_then_lr):
        run = client.get_run(run_id)
        m = run.data.metrics
        assert row[:-1] == [run.info.run_name, run.data.params["backend"], run.data.params["optim.lr"],
                            run.info.status, pct(m["final/val_acc"]), pct(m["test/acc"]),
                            f"{m['time/epoch_median_s']:.2f} s"]
    assert "4 runs, 3 finished. Swept parameters: backend, optim.lr." in md
    assert "overrides `backend=numpy,torch optim.lr=0.03,3e-3`" in md
    assert store.report_run_id not in md


def test_figures_plot_each_metric_against_the_swept_param(parent_report):
    assert [p.name for p in parent_report.figures] == ["val_acc_optim_lr.png", "epoch_time_optim_lr.png"]
    assert all(p.read_bytes().startswith(PNG_MAGIC) for p in parent_report.figures)
    assert parent_report.html.read_text().count('src="data:image/png;base64,') == 2


def test_series_are_means_per_backend_and_value_in_numeric_order():
    runs = pd.DataFrame({"backend": ["torch", "numpy", "numpy", "numpy", "numpy"],
                         "params.optim.lr": ["0.1", "0.1", "5e-3", "0.1", "0.03"],
                         "final/val_acc": [0.5, 0.9, 0.7, 0.8, 0.6]})
    assert series(runs, "optim.lr", "final/val_acc", 100.0) == {
        "NumPy": [("5e-3", pytest.approx(70.0)), ("0.03", pytest.approx(60.0)), ("0.1", pytest.approx(85.0))],
        "PyTorch": [("0.1", pytest.approx(50.0))]}


def test_an_experiments_report_with_a_filter(store, client, tmp_path):
    files = build_sweep(store.uri, tmp_path, experiment=SWEEP_EXPERIMENT, filter_string="params.backend = 'numpy'",
                        log_to_mlflow=False)
    md = files.markdown.read_text()
    names = [row[0] for row in table(md, "Runs")[1:]]
    assert names == [f"sweep numpy lr{lr}" for lr in reversed(SWEEP_LRS)]
    assert store.parent_run_id not in md and store.report_run_id not in md
    assert "filter `params.backend = 'numpy'`" in md and files.markdown.name == f"sweep_{SWEEP_EXPERIMENT}.md"
    assert "Swept parameters: optim.lr." in md and table(md, "Runs")[0] == HEADER


def test_when_only_the_backend_varies_there_are_no_figures(store, tmp_path):
    files = build_sweep(store.uri, tmp_path, experiment=SWEEP_EXPERIMENT, filter_string="params.optim.lr = '3e-3'",
                        log_to_mlflow=False)
    assert files.figures == () and "Only the backend varies among these runs" in files.markdown.read_text()
    assert table(files.markdown.read_text(), "Runs")[0] == [h for h in HEADER if h != "optim.lr"]


def test_the_report_is_logged_and_the_next_one_leaves_it_out(store, client, tmp_path):
    first = build_sweep(store.uri, tmp_path / "a", experiment=SWEEP_EXPERIMENT)
    run = client.get_run(first.report_run_id)
    assert run.data.tags["report"] == "true" and run.data.tags["report_kind"] == "sweep"
    again = build_sweep(store.uri, tmp_path / "b", experiment=SWEEP_EXPERIMENT, log_to_mlflow=False)
    assert again.markdown.read_bytes() == first.markdown.read_bytes()


def test_unknown_experiment_fails_naming_it_and_the_known_ones(store, tmp_path):
    with pytest.raises(ReportError) as err:
        build_sweep(store.uri, tmp_path, experiment="no-such-experiment", filter_string="params.backend = 'numpy'")
    message = str(err.value)
    assert "no-such-experiment" in message and store.uri in message and "params.backend = 'numpy'" in message
    assert SWEEP_EXPERIMENT in message


def test_unknown_parent_empty_results_and_bad_filters_fail_clearly(store, tmp_path):
    with pytest.raises(ReportError, match="0{32} not found"):
        build_sweep(store.uri, tmp_path, parent_run_id="0" * 32)
    with pytest.raises(ReportError, match="no runs in experiment 'sweep-test'.*params.backend = 'jax'"):
        build_sweep(store.uri, tmp_path, experiment=SWEEP_EXPERIMENT, filter_string="params.backend = 'jax'")
    with pytest.raises(ReportError, match="check the filter syntax"):
        build_sweep(store.uri, tmp_path, experiment=SWEEP_EXPERIMENT, filter_string="params.backend ==")
