"""A store that is not there, answers 500, is damaged or is read-only: one line, in seconds, before any work.

Before, a server that was not there cost 254 s of MLflow's retries and a ~110-line traceback (the data
loaded first), a 500-answering one 257 s and 81 lines; a truncated mlflow.db gave 77-line tracebacks from
training and 75 lines from the doctor, a read-only store 19 to 212 lines. Real processes: the training
script, the doctor, `make ui`, a real HTTP server answering 500, a read-only bind mount.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from support import PROJECT_ROOT, TEST_DATA, free_port, stop, write_learnable_data

pytestmark = pytest.mark.slow
TRAIN = [sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py"), "experiment=debug", "train.threads=1"]
DOCTOR = [sys.executable, "-m", "mlpbench.tracking.doctor", "--no-slurm", "--uri"]
CLEAR_WITHIN_S = 60  # the process's own start (imports) on a busy 2-core machine, not retries
# A server that answers every request with 500, as a broken tracking server does.
_ANSWERS_500 = """
import http.server, sys
class Broken(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_error(500)
    do_POST = do_GET
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Broken).serve_forever()
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}


def _one_line(cmd: list[str], cwd: Path, says: str, env: dict[str, str] | None = None) -> float:
    """Run ``cmd``; check it fails with ``says`` on every line it prints (make's own ``make: ***`` line
    aside); return the seconds it took."""
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=600)
    took = time.monotonic() - start
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip() and
             not re.match(r"make(\[\d+\])?: \*\*\*", line)]  # make[1] when make runs inside make (CI)
    assert done.returncode != 0, lines
    assert lines and all(says in line for line in lines), "\n".join(lines)
    assert took < CLEAR_WITHIN_S, f"{took:.0f} s to fail"
    return took


def _train(root: Path, uri: str) -> list[str]:
    data = root / "data"
    return TRAIN + [TEST_DATA, f"data.paths.processed={data / 'processed'}", f"data.paths.split={data / 'split'}",
                    f"tracking.uri={uri}", f"hydra.run.dir={root / 'run'}"]


def _no_outputs(root: Path) -> None:
    assert not [p for p in (root / "run").rglob("*") if p.is_file() and ".hydra" not in p.parts and
                p.name != "train.log"]


@pytest.fixture(scope="module")
def store_copy(tmp_path_factory) -> Path:
    """A real MLflow SQLite store (schema, experiment, a finished run), made once."""
    from mlflow.tracking import MlflowClient

    from mlpbench import tracking

    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    uri = f"sqlite:///{path}"
    client = MlflowClient(uri)
    run_id = client.create_run(tracking.prepare(uri, "mlpbench")).info.run_id
    client.log_metric(run_id, "val/acc", 0.9)
    client.set_terminated(run_id, "FINISHED")
    return path


@pytest.fixture
def root(tmp_path) -> Path:
    return write_learnable_data(tmp_path)


def test_a_server_that_is_not_there(root):
    uri = f"http://127.0.0.1:{free_port()}"
    _one_line(_train(root, uri), root, f"no MLflow server answers at {uri} (connection refused); start it")
    _no_outputs(root)


def test_a_server_that_answers_500(root):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", _ANSWERS_500, str(port)], stderr=subprocess.DEVNULL)
    try:
        uri = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while not _answers(uri):
            assert time.monotonic() < deadline and server.poll() is None, "the 500 server did not start"
            time.sleep(0.2)
        _one_line(_train(root, uri), root, f"the MLflow server at {uri} answers 500 Internal Server Error to GET "
                                           "/health; see the server's log")
    finally:
        stop(server)
    _no_outputs(root)


def test_a_truncated_store(root, store_copy):
    db = root / "mlflow.db"
    db.write_bytes(store_copy.read_bytes()[: store_copy.stat().st_size // 3])
    says = f"the MLflow store {db} is damaged (SQLite: database disk image is malformed); restore it from a backup"
    _one_line(_train(root, f"sqlite:///{db}"), root, says)
    _no_outputs(root)
    _one_line(DOCTOR + [f"sqlite:///{db}"], root, says)
    project = _project(root, db)
    _one_line(["make", "-s", "ui", f"UI_PORT={free_port()}"], project, says.replace(str(db), str(project / db.name)),
              env=_make_env())


@pytest.fixture
def read_only_store(root, store_copy):
    """``root/ro/mlflow.db`` on a read-only bind mount of ``root/rw`` (root only: mount needs it)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("a read-only bind mount needs root and mount(8); not running as root here")
    rw, ro = root / "rw", root / "ro"
    rw.mkdir()
    ro.mkdir()
    shutil.copy(store_copy, rw / "mlflow.db")
    subprocess.run(["mount", "--bind", str(rw), str(ro)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=True)
        yield ro / "mlflow.db"
    finally:
        subprocess.run(["umount", str(ro)], check=True)


def test_a_read_only_store(root, read_only_store):
    db = read_only_store
    says = f"the MLflow store {db} is read-only (the file or its folder {db.parent}); fix the permissions"
    _one_line(_train(root, f"sqlite:///{db}"), root, says)
    _no_outputs(root)
    _one_line(DOCTOR + [f"sqlite:///{db}"], root, says)
    listed = subprocess.run(DOCTOR + [f"sqlite:///{db}", "--dry-run"], env=_env(), capture_output=True, text=True)
    assert listed.returncode == 0 and "0 run(s) without a live process" in listed.stdout, listed.stderr


def _answers(uri: str) -> bool:
    try:
        urllib.request.urlopen(uri, timeout=1)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def _project(root: Path, db: Path) -> Path:
    """A folder with the Makefile, set up as if installed (its stamp newer than pyproject.toml), and
    ``db`` as its mlflow.db."""
    project = root / "project"
    project.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(PROJECT_ROOT / name, project / name)
    (project / ".venv").mkdir()
    (project / ".venv" / ".installed-stamp").touch()
    shutil.copy(db, project / db.name)
    return project


def _make_env() -> dict[str, str]:
    """The environment for make: this interpreter's scripts (python, mlflow) first on PATH."""
    return {**_env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
