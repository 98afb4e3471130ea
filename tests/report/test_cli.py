"""pipelines/report.py as DVC and people run it: exit status and messages (run in-process)."""
from __future__ import annotations

import json
import runpy

import pytest

from .conftest import ROOT


@pytest.fixture
def main(tracked, monkeypatch):
    """The script's ``main(argv)`` against the test store (MLFLOW_TRACKING_URI wins over params.yaml)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracked.uri)
    return runpy.run_path(str(ROOT / "pipelines" / "report.py"))["main"]


def test_cli_builds_the_comparison(tracked, tmp_path, main, capsys):
    files = [str(tracked.metrics_files[k]) for k in ("numpy", "torch", "tutorial_numpy", "tutorial_torch")]
    main([*files, "--out", str(tmp_path / "reports"), "--no-log"])
    assert (tmp_path / "reports" / "comparison.md").is_file() and (tmp_path / "reports" / "comparison.html").is_file()
    assert "comparison.md" in capsys.readouterr().out


def test_cli_exits_non_zero_naming_missing_runs(tracked, tmp_path, main):
    bogus = tmp_path / "bogus.json"
    bogus.write_text(json.dumps({"run_id": "a" * 32, "test_acc": 0.5}))
    with pytest.raises(SystemExit) as exit_:
        main([str(bogus), "--out", str(tmp_path / "x")])
    assert isinstance(exit_.value.code, str)  # a message: exit status 1
    assert "a" * 32 in exit_.value.code and tracked.uri in exit_.value.code


def test_cli_sweep_of_an_unknown_experiment_fails(tracked, tmp_path, main):
    with pytest.raises(SystemExit) as exit_:
        main(["--experiment", "nope", "--out", str(tmp_path)])
    assert "'nope' not found" in exit_.value.code and tracked.uri in exit_.value.code
