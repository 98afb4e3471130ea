"""Services for the tests marked ``cluster``, started once per session and stopped after it.

- ``slurm``: a one-node SLURM cluster (scripts/slurm-single-node), its ``SLURM_CONF`` exported.
- ``team_server``: the team MLflow server on PostgreSQL (scripts/mlflow-team-server), its URL.
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


@pytest.fixture(scope="session")
def team_server() -> Iterator[str]:
    """The URL of an MLflow server on PostgreSQL (needs postgresql and psycopg[binary])."""
    _need({"postgresql (initdb)": next(Path("/usr/lib/postgresql").glob("*/bin/initdb"), None)
           if Path("/usr/lib/postgresql").is_dir() else None})
    pytest.importorskip("psycopg", reason="psycopg[binary] is not installed (pip install 'psycopg[binary]')")
    folder = _service_dir("mlflow")
    port = free_port()
    env = {**os.environ, "MLFLOW": str(Path(sys.executable).with_name("mlflow")), "MLFLOW_PORT": str(port),
           "PG_PORT": str(free_port()), "MLFLOW_WORKERS": "2"}
    env.pop("MLFLOW_TRACKING_URI", None)
    try:
        _script("mlflow-team-server", "start", folder, env, timeout=300)
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([str(SCRIPTS / "mlflow-team-server"), "stop", str(folder)], env=env, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


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
