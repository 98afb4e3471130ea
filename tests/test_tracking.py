"""MLflow tracking: store location and honest run statuses."""
import contextlib
import os
import re
import signal
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from mlpbench import tracking
from mlpbench.config import ConfigError
from mlpbench.signals import Terminated


def test_default_store_is_absolute_sqlite_at_the_root(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking.resolve_tracking_uri(tmp_path) == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_relative_sqlite_is_anchored_at_the_root_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir("/")
    assert tracking.resolve_tracking_uri(tmp_path, "sqlite:///runs/m.db") == f"sqlite:///{tmp_path / 'runs/m.db'}"


def test_env_beats_config_and_server_urls_pass_through(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking.resolve_tracking_uri(tmp_path, "sqlite:////x.db") == "http://127.0.0.1:5999"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert tracking.resolve_tracking_uri(tmp_path, "http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_flatten():
    assert tracking.flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"}) == {"a.b": 1, "a.c.d": [1, 2], "e": "x"}


def test_an_experiment_name_never_puts_artifacts_outside_the_store(tmp_path):
    """``tracking.experiment=../../../../escape-exp`` once made the experiment's artifact folder four levels
    above mlartifacts/ (the name was joined unnormalised): the run's artifacts landed outside the project.
    Such a name is refused before the store is opened."""
    store = tmp_path / "a" / "b" / "c" / "d"
    store.mkdir(parents=True)
    for name in ("../../../../escape-exp", "a/../../escape-exp", "/tmp/escape-exp", ".", ".."):
        with pytest.raises(ConfigError, match=rf"experiment name '{re.escape(name)}' would put its artifacts in .*, "
                                              rf"not inside {re.escape(str(store / 'mlartifacts'))}; name it with"):
            tracking.prepare(f"sqlite:///{store / 'mlflow.db'}", name)
    assert set(tmp_path.rglob("*")) == {tmp_path / p for p in ("a", "a/b", "a/b/c", "a/b/c/d")}  # no store, no folder


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return uri, tracking.prepare(uri, "t")


def _run(store, body):
    uri, experiment_id = store
    run = tracking.TrackedRun(uri, experiment_id, "r", {"optim": {"lr": 0.1}}, {"backend": "numpy"})
    with pytest.raises(BaseException) if body is not None else contextlib.nullcontext():
        with run:
            run.log_metrics({"val/acc": 0.5}, step=1)
            if body is not None:
                raise body
    return MlflowClient(uri).get_run(run.run_id)


def test_the_experiment_description_names_no_one_data_set(store):
    uri, experiment_id = store
    note = MlflowClient(uri).get_experiment(experiment_id).tags["mlflow.note.content"]
    assert note.startswith("MLP benchmark: NumPy from scratch vs PyTorch.") and "MNIST" not in note


def test_success_is_finished_with_params_and_metrics(store):
    run = _run(store, None)
    assert run.info.status == "FINISHED"
    assert run.data.params == {"optim.lr": "0.1"} and run.data.tags["backend"] == "numpy"
    assert run.data.metrics["val/acc"] == 0.5


def test_exception_is_failed_with_the_error_kept(store, tmp_path):
    run = _run(store, ValueError("boom"))
    assert run.info.status == "FAILED"
    assert run.data.tags["error"] == "ValueError: boom"
    client = MlflowClient(store[0])
    text = Path(client.download_artifacts(run.info.run_id, "error.txt", str(tmp_path))).read_text()
    assert "ValueError: boom" in text


@pytest.mark.parametrize("signal_error", [KeyboardInterrupt(), Terminated("SIGTERM")])
def test_interrupt_is_killed(store, signal_error):
    assert _run(store, signal_error).info.status == "KILLED"


def test_a_fit_stopped_on_purpose_is_finished_with_its_tags(store):
    from mlpbench.stopping import StoppedEarly

    run = _run(store, StoppedEarly(2, "Pruned at epoch 2", {"trial_state": "PRUNED", "pruned_at_epoch": "2"}))
    assert run.info.status == "FINISHED" and "error" not in run.data.tags
    assert run.data.tags["trial_state"] == "PRUNED" and run.data.tags["pruned_at_epoch"] == "2"
    assert run.data.tags["mlflow.note.content"] == "Pruned at epoch 2"


def test_parent_run_ends_once(store):
    uri, experiment_id = store
    parent = tracking.start_parent_run(uri, experiment_id, "sweep", {"sweep": "parent"})
    assert MlflowClient(uri).get_run(parent).info.status == "RUNNING"
    tracking.end_parent_run(uri, parent, "FINISHED")
    tracking.end_parent_run(uri, parent, "KILLED")  # no effect: already ended
    assert MlflowClient(uri).get_run(parent).info.status == "FINISHED"


def test_ui_page_gets_the_default_workflow_choice_once():
    from mlpbench.tracking.ui import DEFAULT_CHOICES, with_default_choice

    page = b"<!doctype html><html><head><meta charset='utf-8'/></head><body></body></html>"
    served = with_default_choice(page)
    assert served.startswith(b"<!doctype html><html><head>" + DEFAULT_CHOICES.encode() + b"<meta")
    assert with_default_choice(served) == served  # never twice
    assert with_default_choice(b"<html>no head</html>") == b"<html>no head</html>"


@pytest.mark.parametrize("statement", ["SELECT", "INSERT", "UPDATE"])
def test_a_stop_during_a_write_lets_the_write_finish_then_ends_the_run_killed(store, statement):
    """SLURM's warning arriving inside SQLAlchemy's session (it once left the store locked, and the
    run could not be ended): the metric is stored whole, then the run unwinds and ends KILLED."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from mlpbench.signals import sigterm_raises

    uri, experiment_id = store
    armed = []

    def stop_here(conn, cursor, sql, *args):  # the signal lands as the store runs this statement
        if armed and sql.lstrip().upper().startswith(statement):
            armed.clear()
            os.kill(os.getpid(), signal.SIGUSR2)

    event.listen(Engine, "before_cursor_execute", stop_here)
    run = tracking.TrackedRun(uri, experiment_id, "r", {}, {})
    try:
        with pytest.raises(Terminated, match="SIGUSR2"), sigterm_raises(), run:
            run.log_metrics({"x": 1.0}, step=1)
            armed.append(True)
            run.log_metrics({"x": 2.0}, step=2)
            pytest.fail("the stop was not raised once the write was done")
    finally:
        event.remove(Engine, "before_cursor_execute", stop_here)
    client = MlflowClient(uri)
    assert [m.value for m in client.get_metric_history(run.run_id, "x")] == [1.0, 2.0]
    assert client.get_run(run.run_id).info.status == "KILLED"


def test_stops_in_a_deferred_block_are_raised_as_it_ends_and_only_the_outermost():
    from mlpbench.signals import signals_deferred, sigterm_raises

    # Ctrl-C's handler as an interpreter started from a terminal has it: a test run started in the
    # background by a non-interactive shell inherits SIGINT ignored, and an ignored signal is acted on as ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        done = []
        with pytest.raises(KeyboardInterrupt):
            with signals_deferred():
                with signals_deferred():
                    signal.raise_signal(signal.SIGINT)  # to this thread, as a terminal's Ctrl-C reaches Python
                    done.append("inner")
                done.append("outer")
        assert done == ["inner", "outer"]
        with pytest.raises(Terminated, match="SIGTERM"), sigterm_raises():
            with signals_deferred():
                signal.raise_signal(signal.SIGTERM)
                signal.raise_signal(signal.SIGUSR2)  # the first one noted is the one acted on
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_the_store_check_names_what_is_wrong_in_one_line(tmp_path):
    from support import free_port

    from mlpbench.tracking.health import StoreError, check_store

    check_store(f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}")  # not there yet: MLflow creates it
    damaged = tmp_path / "mlflow.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\x10\x00" * 50)
    with pytest.raises(StoreError, match=rf"the MLflow store {damaged} is damaged \(SQLite: .*\); restore it"):
        check_store(f"sqlite:///{damaged}")
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError, match=rf"no MLflow server answers at {uri} \(connection refused\)") as err:
        check_store(uri)
    assert "\n" not in str(err.value)


def test_a_database_error_is_summarised_by_the_line_that_names_it():
    from mlpbench.tracking.journal import _first_line

    err = RuntimeError("(raised as a result of Query-invoked autoflush; consider using a session.no_autoflush "
                       "block if this flush is occurring prematurely)\n(sqlite3.OperationalError) database or disk "
                       "is full\n[SQL: INSERT INTO metrics ...]")
    assert _first_line(err) == "RuntimeError: (sqlite3.OperationalError) database or disk is full"
    assert _first_line(RuntimeError("one line")) == "RuntimeError: one line"


def test_a_run_recorded_after_its_work_keeps_the_work_s_start_and_end(tmp_path):
    """A study records its runs once the work is done: they carry the work's times, not the recording's."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = tracking.prepare(uri, "exp")
    with tracking.TrackedRun(uri, experiment_id, "study", {"a": 1}, {"t": "v"},
                             start_time=1_700_000_000_000, end_time=1_700_000_123_000) as run:
        run.log_metrics({"m": 1.0})
    info = MlflowClient(uri).get_run(run.run_id)
    assert (info.info.start_time, info.info.end_time, info.info.status) == (1_700_000_000_000, 1_700_000_123_000,
                                                                            "FINISHED")
    assert info.data.params == {"a": "1"} and info.data.tags["t"] == "v" and info.info.run_name == "study"


def test_a_report_run_starts_when_the_process_that_built_it_did(tmp_path):
    import time

    import psutil

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    experiment_id = tracking.prepare(uri, "exp")
    (tmp_path / "r.md").write_text("# r\n")
    run_id = tracking.log_report(uri, experiment_id, [(tmp_path / "r.md", None)], {}, [])
    info = MlflowClient(uri).get_run(run_id).info
    assert info.start_time == int(psutil.Process().create_time() * 1000)
    assert info.start_time < time.time() * 1000 - 1000 < info.end_time  # the test session ran before it


def test_the_store_s_empty_default_experiment_is_deleted(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracking.prepare(uri, "exp")
    assert [e.name for e in MlflowClient(uri).search_experiments()] == ["exp"]
