"""The slow tier's shared set-ups rely on ``xdist_group``: ``make test-all`` runs pytest-xdist with
``--dist loadgroup``, which sends the tests of one group to one worker, so a module fixture such as
the full pipeline's reproduction (or the cluster's services) is built once. pytest 9.2 drops the
group from the node id that pytest-xdist 3.8 sets, and every test is then scheduled on its own,
silently building those set-ups once per worker; pyproject.toml pins pytest below 9.2 for this.
This test fails if the installed pair loses the groups again.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOY = '''
import os
import pytest

pytestmark = pytest.mark.xdist_group("shared")


@pytest.fixture(scope="module")
def set_up_once():
    with open("set-ups", "a") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")


@pytest.mark.parametrize("i", range(6))
def test_grouped(set_up_once, i):
    pass


@pytest.mark.parametrize("i", range(6))
def test_ungrouped_neighbour(i):
    pass
'''


def test_a_group_runs_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_toy.py").write_text(TOY)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup",
                           "-p", "no:cacheprovider", "test_toy.py"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    workers = (tmp_path / "set-ups").read_text().split()
    assert len(workers) == 1, f"the grouped module's fixture was set up on workers {workers}, not on one"
