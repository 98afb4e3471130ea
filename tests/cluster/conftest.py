"""Services for the tests marked ``cluster``, started once per session and stopped after it.

Under pytest-xdist (``make test-all``) every session is a worker's: the cluster tests carry
``xdist_group("cluster")``, so ``--dist loadgroup`` gives them all to one worker, which alone starts
the services.

- ``slurm``: a one-node SLURM cluster (scripts/slurm-single-node), its ``SLURM_CONF`` exported.
- ``team_server``: the team MLflow server on PostgreSQL (scripts/mlflow-team-server), its URL; it
  begins starting in the background as the first cluster test starts, since its start is the slowest.
  ``team_postgres``: that PostgreSQL's URL, for a database of its own (an Optuna study's).
- ``s3``: moto's S3 server (``ThreadedMotoServer``), its endpoint URL and credentials.

Each binds to 127.0.0.1 on a free port and lives in its own temporary folder (readable by the
munge and postgres users, which run the daemons). A service whose package is missing skips the tests
that need it, naming the package and how to install it.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from support import PROJECT_ROOT, free_port

SCRIPTS = PROJECT_ROOT / "scripts"


def _service_dir(prefix: str) -> Path:
    """A temporary folder the daemons' own users can enter (pytest's tmp folders are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix=f"mlpbench-{prefix}-"))
    folder.chmod(0o755)
    return folder


def _need(tools: dict[str, str]) -> None:
    missing = [name for name, found in tools.items() if not found]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (.ci/run installs them as root with apt-get)")


def _script(name: str, action: str, folder: Path, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run([str(SCRIPTS / name), action, str(folder)], env=env, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"{name} {action} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@pytest.fixture(scope="session")
def slurm() -> Iterator[dict[str, str]]:
    """``{"SLURM_CONF": ...}`` of a running one-node cluster (needs root, slurm-wlm and munge)."""
    if os.geteuid() != 0:
        pytest.skip("the one-node SLURM cluster starts its daemons as root; run as root")
    _need({"slurm-wlm (slurmctld)": shutil.which("slurmctld"), "munge (munged)": shutil.which("munged")})
    folder = _service_dir("slurm")
    env = {**os.environ, "SLURMCTLD_PORT": str(free_port()), "SLURMD_PORT": str(free_port())}
    try:
        _script("slurm-single-node", "start", folder, env, timeout=120)
        yield {"SLURM_CONF": str(folder / "slurm.conf")}
    finally:
        subprocess.run([str(SCRIPTS / "slurm-single-node"), "stop", str(folder)], env=env, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


def _team_server_missing() -> str | None:
    """Why the team server cannot start here, or None."""
    pg = Path("/usr/lib/postgresql")
    if not (pg.is_dir() and next(pg.glob("*/bin/initdb"), None)):
        return "postgresql (initdb) not installed (.ci/run installs them as root with apt-get)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg[binary] is not installed (pip install 'psycopg[binary]')"
    return None


@pytest.fixture(scope="session", autouse=True)
def _team_server_started(request) -> Iterator[tuple[subprocess.Popen, str, str] | None]:
    """Begins starting the team server as the first cluster test starts, when a collected test needs it.

    Its start (initdb, ``mlflow db upgrade``, the server's workers: 20-50 s) then overlaps the tests
    that come before the first one using it; ``team_server`` waits for it. Stopped after the session.
    """
    if _team_server_missing() or not any("team_server" in item.fixturenames for item in request.session.items):
        yield None
        return
    folder = _service_dir("mlflow")
    port, pg_port = free_port(), free_port()
    env = {**os.environ, "MLFLOW": str(Path(sys.executable).with_name("mlflow")), "MLFLOW_PORT": str(port),
           "PG_PORT": str(pg_port), "MLFLOW_WORKERS": "2"}
    env.pop("MLFLOW_TRACKING_URI", None)
    start = subprocess.Popen([str(SCRIPTS / "mlflow-team-server"), "start", str(folder)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield start, f"http://127.0.0.1:{port}", f"postgresql+psycopg://postgres@127.0.0.1:{pg_port}"
    finally:
        if start.poll() is None:
            start.kill()
            start.wait()
        subprocess.run([str(SCRIPTS / "mlflow-team-server"), "stop", str(folder)], env=env, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def team_server(_team_server_started) -> str:
    """The URL of an MLflow server on PostgreSQL (needs postgresql and psycopg[binary])."""
    missing = _team_server_missing()
    if missing:
        pytest.skip(missing)
    start, url, _ = _team_server_started
    try:
        out, err = start.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail("mlflow-team-server start did not finish within 300 s")
    if start.returncode != 0:
        pytest.fail(f"mlflow-team-server start failed:\n{out}\n{err}")
    return url


@pytest.fixture(scope="session")
def team_postgres(team_server, _team_server_started) -> str:
    """The team server's PostgreSQL as a URL without a database (``postgresql+psycopg://postgres@127.0.0.1:PORT``):
    add ``/<name>`` for a database of its own beside MLflow's."""
    return _team_server_started[2]


@pytest.fixture(scope="session")
def s3() -> Iterator[dict[str, str]]:
    """moto's S3 server: ``{"endpoint": url, **AWS credentials env}`` (needs moto[server])."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed "
                                      "(pip install 'moto[server]')")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield {"endpoint": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    finally:
        server.stop()
