"""The Makefile's targets work in a folder whose path holds spaces and non-ASCII letters.

Before, `make ui` failed in a folder named ``my proj ü``: the recipe left
``sqlite:///$(abspath mlflow.db)`` unquoted, so the shell split the store's path into three arguments.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from support import PROJECT_ROOT, free_port, run_checked

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path) -> tuple[Path, dict[str, str]]:
    """``tmp_path/my proj ü`` holding the Makefile and conf/, set up as if installed, and make's environment."""
    folder = tmp_path / "my proj ü"
    folder.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(PROJECT_ROOT / name, folder / name)
    for name in ("conf", "hydra_plugins"):
        shutil.copytree(PROJECT_ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / ".venv").mkdir()
    (folder / ".venv" / ".installed-stamp").touch()  # newer than pyproject.toml: nothing to install
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "DVC_ROOT")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return folder, env


def test_make_ui_doctor_and_params_in_a_folder_with_spaces(project):
    folder, env = project
    port = free_port()
    ui = subprocess.Popen(["make", "ui", f"UI_PORT={port}"], cwd=folder, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 180  # a loaded 2-core machine can take a minute to import mlflow
        while True:
            try:
                assert urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).status == 200
                break
            except OSError:
                assert ui.poll() is None, f"make ui exited {ui.returncode}:\n{ui.communicate()[0]}"
                assert time.monotonic() < deadline, "make ui did not start the UI in 180 s"
                time.sleep(0.5)
    finally:
        os.killpg(ui.pid, signal.SIGTERM)  # make, mlflow and its server workers
        try:
            ui.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
            ui.communicate()
    assert (folder / "mlflow.db").is_file()  # the store the UI opened is the folder's own

    doctor = run_checked(["make", "doctor"], folder, env, timeout=300)
    assert f"0 run(s) without a live process or SLURM job in sqlite:///{folder / 'mlflow.db'}" in doctor
    run_checked(["make", "params"], folder, env, timeout=300)
    assert (folder / "params.yaml").read_text() == (PROJECT_ROOT / "params.yaml").read_text()
