"""The sweep report from a parent run's children or an experiment's runs, and its errors."""
from __future__ import annotations

import pytest

from mlpbench.report import ReportError, build_sweep
from mlpbench.report import format as fmt

from .conftest import SWEEP_EXPERIMENT, SWEEP_LRS


def test_sweep_report_of_a_parent_lists_every_child(tracked, tmp_path, client):
    files = build_sweep(tracked.uri, tmp_path, parent_run_id=tracked.parent_run_id, log_to_mlflow=False)
    assert files.markdown.name == f"sweep_{tracked.parent_run_id}.md" and files.html.is_file()
    md = files.markdown.read_text()
    for run_id in tracked.child_run_ids:
        run = client.get_run(run_id)
        line = next(ln for ln in md.splitlines() if run_id in ln)
        assert run.data.params["optim.lr"] in line and fmt.pct(run.data.metrics["final/val_acc"]) in line
        assert fmt.seconds(run.data.metrics["time/epoch_median_s"]) in line and "FINISHED" in line
    assert "Swept parameters: backend, optim.lr" in md
    assert {p.name for p in files.figures} == {"val_acc_optim_lr.png", "epoch_time_optim_lr.png"}
    assert files.html.read_text().count("data:image/png;base64,") == 2


def test_sweep_report_of_an_experiment_with_a_filter(tracked, tmp_path, client):
    files = build_sweep(tracked.uri, tmp_path, experiment=SWEEP_EXPERIMENT,
                        filter_string="params.backend = 'numpy'", log_to_mlflow=False)
    md = files.markdown.read_text()
    numpy_ids = [r for r in tracked.child_run_ids if client.get_run(r).data.params["backend"] == "numpy"]
    assert len(numpy_ids) == len(SWEEP_LRS) and all(r in md for r in numpy_ids)
    assert tracked.parent_run_id not in md and "params.backend = 'numpy'" in md
    assert files.markdown.name == f"sweep_{SWEEP_EXPERIMENT}.md"


def test_sweep_report_is_logged_and_stable(tracked, tmp_path, client):
    first = build_sweep(tracked.uri, tmp_path / "a", experiment=SWEEP_EXPERIMENT)
    run = client.get_run(first.report_run_id)
    assert run.data.tags["report"] == "true" and run.data.tags["report_kind"] == "sweep"
    again = build_sweep(tracked.uri, tmp_path / "b", experiment=SWEEP_EXPERIMENT, log_to_mlflow=False)
    assert again.markdown.read_bytes() == first.markdown.read_bytes()  # the report run is not a sweep run


def test_unknown_experiment_fails_naming_it(tracked, tmp_path):
    with pytest.raises(ReportError) as err:
        build_sweep(tracked.uri, tmp_path, experiment="no-such-experiment", filter_string="params.backend = 'numpy'")
    message = str(err.value)
    assert "no-such-experiment" in message and tracked.uri in message and "params.backend = 'numpy'" in message
    assert SWEEP_EXPERIMENT in message  # the known experiments are listed


def test_unknown_parent_and_empty_filter_fail_clearly(tracked, tmp_path):
    with pytest.raises(ReportError, match="0{32} not found"):
        build_sweep(tracked.uri, tmp_path, parent_run_id="0" * 32)
    with pytest.raises(ReportError, match="no runs in experiment 'sweep-test'.*params.backend = 'jax'"):
        build_sweep(tracked.uri, tmp_path, experiment=SWEEP_EXPERIMENT, filter_string="params.backend = 'jax'")
