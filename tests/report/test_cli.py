"""pipelines/report.py as DVC and people run it: exit status and messages (run in-process)."""
from __future__ import annotations

import json
import runpy

import pytest

from .conftest import ROOT


@pytest.fixture
def main(store, monkeypatch, tmp_path):
    """The script's ``main(argv)`` against the test store (MLFLOW_TRACKING_URI wins over params.yaml)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    run = runpy.run_path(str(ROOT / "pipelines" / "report.py"))["main"]
    return lambda argv: run([*argv, "--params", str(tmp_path / "no-params.yaml")])


def test_cli_builds_the_comparison(store, tmp_path, main, capsys):
    main([*map(str, store.metrics_files.values()), "--out", str(tmp_path / "reports"), "--no-log"])
    assert (tmp_path / "reports" / "comparison.md").is_file() and (tmp_path / "reports" / "comparison.html").is_file()
    assert f"wrote {tmp_path / 'reports' / 'comparison.md'}" in capsys.readouterr().out


def test_cli_builds_a_sweep_report(store, tmp_path, main):
    main(["--sweep", store.parent_run_id, "--out", str(tmp_path), "--no-log", "--ui-url", "http://ui"])
    assert "(http://ui/#/experiments/" in (tmp_path / f"sweep_{store.parent_run_id}.md").read_text()


def test_cli_exits_non_zero_naming_missing_runs(store, tmp_path, main):
    bogus = tmp_path / "bogus.json"
    bogus.write_text(json.dumps({"run_id": "a" * 32, "test_acc": 0.5}))
    with pytest.raises(SystemExit) as exit_:
        main([str(bogus), "--out", str(tmp_path / "x")])
    assert isinstance(exit_.value.code, str)  # a message: exit status 1
    assert "a" * 32 in exit_.value.code and store.uri in exit_.value.code


@pytest.mark.parametrize("argv, message", [(["--experiment", "nope"], "'nope' not found"),
                                           (["--filter", "params.backend = 'numpy'"], "--sweep/--experiment only")])
def test_cli_usage_errors_say_what_is_wrong(tmp_path, main, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--out", str(tmp_path)])
    assert message in exit_.value.code
