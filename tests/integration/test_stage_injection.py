"""Shell metacharacters sent through `dvc exp run -S` never run: no file appears, the value is refused.

Before, the tutorial stages pasted train.dtype, train.device and tracking.experiment into their shell
command, and every train/tutorial stage the names in ``backends``: ``-S "train.device='cpu$(touch F)'"``
created F, trained on cpu and recorded the injected string. Each case here runs the real `dvc exp run`
in a copy of the pipeline on tiny data.
"""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from support import commit_all, data_dir, make_pipeline_repo, run_checked

pytestmark = pytest.mark.slow
SMALL = ["-S", "train.epochs=1", "-S", "model.hidden_sizes=[8]"]


@pytest.fixture
def pipeline(tmp_path, tiny_raw_dir):
    """A pipeline copy with tiny data, split and committed: only the training stages are left to run."""
    repo, env = make_pipeline_repo(tmp_path)
    shutil.copytree(tiny_raw_dir, data_dir(repo, "raw"))
    run_checked([sys.executable, "-m", "dvc", "commit", "--force", "download"], repo, env)
    run_checked([sys.executable, "-m", "dvc", "repro", "split"], repo, env)
    commit_all(repo, env, "tiny data")
    return repo, env


# Every string setting a training stage's command used, each with a command substitution in it.
@pytest.mark.parametrize("setting,refusal", [
    ("train.dtype='float32$(touch {marker})'", "train.dtype='float32$(touch {marker})' is not allowed; choose one of"),
    ("train.device='cpu$(touch {marker})'", "train.device='cpu$(touch {marker})' is not allowed; choose one of"),
    ("train.device='`touch {marker}`'", "train.device='`touch {marker}`' is not allowed; choose one of"),
    ("tracking.experiment='$(touch {marker})'", "tracking.experiment='$(touch {marker})' is invalid; use letters"),
    ("tracking.experiment='x;touch {marker}'", "tracking.experiment='x;touch {marker}' is invalid; use letters"),
    ("backends=['numpy$(touch {marker})']", "Invalid value 'numpy$(touch {marker})', expected one of [numpy, torch]"),
])
def test_a_setting_with_shell_syntax_is_refused_and_never_runs(pipeline, tmp_path, setting, refusal):
    repo, env = pipeline
    marker = tmp_path / "injected"
    done = subprocess.run([sys.executable, "-m", "dvc", "exp", "run", "-S", setting.format(marker=marker), *SMALL,
                           "tutorial@numpy"], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert not marker.exists(), f"the shell ran the value\n{output}"
    assert [line for line in output.splitlines() if refusal.format(marker=marker) in line], output
    assert not (repo / "metrics" / "tutorial_numpy.json").exists()
    assert not (repo / "mlflow.db").exists(), "a run was started before the value was checked"
