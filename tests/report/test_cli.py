"""pipelines/report.py as DVC and people run it: exit status and messages (run in-process)."""
from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys

import pytest

from .conftest import ROOT


@pytest.fixture
def main(store, monkeypatch, tmp_path):
    """The script's ``main(argv)`` against the test store (MLFLOW_TRACKING_URI wins over params.yaml)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    run = runpy.run_path(str(ROOT / "pipelines" / "report.py"))["main"]
    return lambda argv: run([*argv, "--params", str(tmp_path / "no-params.yaml")])


def test_cli_builds_the_comparison(store, tmp_path, main, capsys):
    main([*map(str, store.run_files.values()), "--out", str(tmp_path / "reports"), "--no-log"])
    assert (tmp_path / "reports" / "comparison.md").is_file() and (tmp_path / "reports" / "comparison.html").is_file()
    assert f"wrote {tmp_path / 'reports' / 'comparison.md'}" in capsys.readouterr().out


def test_cli_builds_a_sweep_report(store, tmp_path, main):
    main(["--sweep", store.parent_run_id, "--out", str(tmp_path), "--no-log", "--ui-url", "http://ui"])
    assert "(http://ui/#/experiments/" in (tmp_path / f"sweep_{store.parent_run_id[:8]}_sweep_test.md").read_text()


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


def test_cli_refuses_mixed_presets_unless_the_flag_is_given(store, hidden, tmp_path, main):
    with pytest.raises(SystemExit) as exit_:
        main(["--experiment", "sweep-hidden", "--out", str(tmp_path), "--no-log"])
    assert "mixes presets default, tutorial" in exit_.value.code and "\n" not in exit_.value.code
    main(["--experiment", "sweep-hidden", "--mixed-presets", "--out", str(tmp_path), "--no-log"])
    assert list(tmp_path.glob("experiment_sweep_hidden.md"))


def script(store, tmp_path, *argv, **env):
    return subprocess.run([sys.executable, str(ROOT / "pipelines" / "report.py"), *argv, "--out", str(tmp_path),
                           "--params", str(tmp_path / "none.yaml"), "--no-log"], capture_output=True, text=True,
                          env={**os.environ, "MLFLOW_TRACKING_URI": store.uri, **env}, timeout=120)


def test_cli_errors_are_one_line_and_exit_1_unless_debugging(store, tmp_path):
    quiet = script(store, tmp_path, "--sweep", "f" * 32)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    assert quiet.stderr.strip().count("\n") == 0 and "f" * 32 in quiet.stderr and "--debug" in quiet.stderr
    missing = script(store, tmp_path, str(tmp_path / "missing.json"))
    assert missing.returncode == 1 and missing.stderr.strip().count("\n") == 0 and "missing.json" in missing.stderr
    loud = script(store, tmp_path, "--sweep", "f" * 32, MLPBENCH_DEBUG="1")
    assert loud.returncode == 1 and "Traceback" in loud.stderr
    assert "Traceback" in script(store, tmp_path, "--sweep", "f" * 32, "--debug").stderr
