"""The team server under load and through transient HTTP errors: no metric lost or doubled, nothing RUNNING."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from support import free_port, log_datasets_at_once, run_at_once, tiny_config

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.xdist_group("cluster")]  # one worker starts the services
JOBS, STEPS, KEYS = 16, 20, ("train/loss", "train/acc", "val/loss", "val/acc", "lr")

# One job of the load test: a child run of PARENT logging STEPS steps of KEYS, one call per step.
LOAD_JOB = """
import sys
from mlpbench import tracking
uri, experiment_id, parent, job, steps, keys = sys.argv[1:5] + [int(sys.argv[5]), sys.argv[6].split(",")]
with tracking.TrackedRun(uri, experiment_id, f"load {job}", {"job": job}, {}, parent) as run:
    for step in range(1, steps + 1):
        run.log_metrics({k: step / (i + 1) for i, k in enumerate(keys)}, step=step)
"""


def test_sixteen_concurrent_jobs_lose_no_metric_and_leave_nothing_running(team_server, tmp_path):
    from mlpbench import tracking

    experiment_id = tracking.prepare(team_server, "load-test")
    parent = tracking.start_parent_run(team_server, experiment_id, "load", {"sweep": "parent"})
    env = {**os.environ, "MLFLOW_TRACKING_URI": team_server}
    procs = [subprocess.Popen([sys.executable, "-c", LOAD_JOB, team_server, experiment_id, parent, str(j), str(STEPS),
                               ",".join(KEYS)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for j in range(JOBS)]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * JOBS, outputs
    tracking.end_parent_run(team_server, parent, "FINISHED")

    client = MlflowClient(team_server)
    runs = client.search_runs([experiment_id], max_results=100)
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * (JOBS + 1)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent]
    assert len(children) == JOBS
    for child in children:
        for key in KEYS:
            steps = [m.step for m in client.get_metric_history(child.info.run_id, key)]
            assert sorted(steps) == list(range(1, STEPS + 1)), (child.info.run_name, key, steps)


class FlakyProxy(ThreadingHTTPServer):
    """Forwards to ``target``; answers 503 to every other metric batch, half before forwarding it
    (the server never saw it) and half after (the server stored it, the answer was lost)."""

    daemon_threads = True

    def __init__(self, target: str):
        self.target, self.batches, self.failed = target, 0, {"before": 0, "after": 0}
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", free_port()), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: FlakyProxy

    def log_message(self, *args) -> None:
        pass

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        fail = None
        if self.path.endswith("/runs/log-batch"):
            with self.server.lock:
                self.server.batches += 1
                n = self.server.batches
            fail = None if n % 2 else ("before" if n % 4 == 2 else "after")
        if fail == "before":
            return self._answer(503, b"{}", fail)
        request = urllib.request.Request(self.server.target + self.path, data=body, method=self.command,
                                         headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as err:
            status, payload = err.code, err.read()
        if fail == "after":
            return self._answer(503, b"{}", fail)
        self._answer(status, payload)

    def _answer(self, status: int, payload: bytes, fail: str | None = None) -> None:
        if fail:
            with self.server.lock:
                self.server.failed[fail] += 1
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward


@pytest.fixture
def flaky(team_server):
    proxy = FlakyProxy(team_server)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


def test_training_retries_transient_http_errors_without_losing_or_doubling_metrics(flaky, tiny_root, monkeypatch):
    from mlpbench.run.seeds import train_and_track

    url = f"http://127.0.0.1:{flaky.server_address[1]}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")  # retry at once: the test need not wait
    values = tiny_config(tiny_root, ["tracking=server", "train.epochs=6", "tracking.experiment=flaky"])
    values["tracking"]["uri"] = None  # the server's address comes from MLFLOW_TRACKING_URI
    summary = train_and_track(values, tiny_root, tiny_root / "out", progress=False)

    assert flaky.failed["before"] >= 2 and flaky.failed["after"] >= 2, flaky.failed
    client = MlflowClient(flaky.target)
    run = client.get_run(summary["run_id"])
    assert run.info.status == "FINISHED"
    for key in ("train/loss", "train/acc", "val/loss", "val/acc", "lr", "time/epoch_s"):
        steps = [m.step for m in client.get_metric_history(summary["run_id"], key)]
        assert sorted(steps) == list(range(1, 7)), (key, steps)
    assert Path(tiny_root / "out" / "metrics.json").is_file()


def test_jobs_that_log_the_same_datasets_at_once_through_the_server_all_finish(team_server, tmp_path):
    # PostgreSQL rejects the loser's insert as SQLite does, and the server answers 400, which MLflow does not retry
    log_datasets_at_once(team_server, "datasets-race-", tmp_path)


# One of several processes that create the same new experiment at once (two sweeps started together).
PREPARE_JOB = """
    from mlpbench import tracking

    at_once()
    print(tracking.prepare(args[0], "created-at-once"))
"""


def test_processes_that_create_one_experiment_at_once_all_get_it(team_server, tmp_path):
    outputs = run_at_once(PREPARE_JOB, tmp_path, 4, team_server, timeout=120)
    assert len({out.strip().splitlines()[-1] for out in outputs}) == 1, outputs
