"""The comparison in a clone: runs restored from the exports their run files name, or an error that says which
stage to rebuild; a failed build keeps the last good report."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlpbench.report import ReportError, build_comparison, read_run_ids
from mlpbench.report.runs import display_uri
from mlpbench.tracking import portable

from .conftest import ROOT


def _files_with_exports(store, folder: Path) -> list[Path]:
    """Copies of the store's run files in ``folder/metrics`` naming an export of their run in ``folder/runs``."""
    files = []
    for key, path in store.run_files.items():
        identity = json.loads(path.read_text())
        portable.export_runs(store.uri, [identity["run_id"]], folder / "runs" / key)
        files.append(folder / "metrics" / path.name)
        files[-1].parent.mkdir(parents=True, exist_ok=True)
        files[-1].write_text(json.dumps({**identity, "export": f"../runs/{key}"}))
    return files


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_store_without_the_runs_restores_them_and_reports_the_same_numbers(store, tmp_path):
    files = _files_with_exports(store, tmp_path / "clone")
    fresh = f"sqlite:///{tmp_path / 'clone' / 'mlflow.db'}"
    built = build_comparison(fresh, read_run_ids(files), tmp_path / "rebuilt", log_to_mlflow=False, run_files=files)
    assert built.restored_runs == len(files)
    original = build_comparison(store.uri, read_run_ids(list(store.run_files.values())), tmp_path / "original",
                                log_to_mlflow=False)
    accuracy = lambda md: md.split("## Accuracy and loss")[1].split("## Configurations")[0]  # noqa: E731
    assert accuracy(built.markdown.read_text()) == accuracy(original.markdown.read_text())
    again = build_comparison(fresh, read_run_ids(files), tmp_path / "rebuilt", log_to_mlflow=False, run_files=files)
    assert again.restored_runs == 0
    assert f"`{display_uri(fresh)}`" in built.markdown.read_text() and str(tmp_path) not in built.markdown.read_text()


def test_a_failed_build_keeps_the_last_report_whole(store, tmp_path):
    out = tmp_path / "reports"
    files = list(store.run_files.values())
    build_comparison(store.uri, read_run_ids(files), out, log_to_mlflow=False)
    before = _snapshot(out)
    lost = tmp_path / "lost_run.json"
    lost.write_text(json.dumps({"run_id": "f" * 32}))
    with pytest.raises(ReportError, match="f" * 32):
        build_comparison(store.uri, read_run_ids([*files, lost]), out, log_to_mlflow=False, run_files=[*files, lost])
    assert _snapshot(out) == before and [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_runs_nowhere_to_be_found_name_the_stage_to_rebuild_alone(store, tmp_path):
    """In a DVC repository the hint is `dvc repro -s -f <stage>` for the stage whose output names the run."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / ".dvc", repo / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "dvc.yaml").write_text("stages:\n  torch_options:\n    cmd: 'true'\n    outs:\n"
                                   "      - metrics/torch_options_run.json:\n          cache: false\n")
    run_file = repo / "metrics" / "torch_options_run.json"
    run_file.parent.mkdir()
    run_file.write_text(json.dumps({"runs": {"eager": "e" * 32}}))
    numpy = repo / "metrics" / "numpy_run.json"
    numpy.write_text(store.run_files["numpy"].read_text())
    done = subprocess.run([sys.executable, str(ROOT / "pipelines" / "report.py"), str(numpy), "--torch-options",
                           str(run_file), "--no-log", "--out", str(tmp_path / "out"),
                           "--params", str(tmp_path / "none.yaml")],
                          env={"MLFLOW_TRACKING_URI": store.uri, "PATH": str(Path(sys.executable).parent)},
                          capture_output=True, text=True, cwd=repo)
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert "e" * 32 in line and "dvc repro -s -f torch_options" in line and "download" not in line


def test_a_run_file_whose_export_is_gone_still_finds_its_run_in_the_store(store, tmp_path):
    files = _files_with_exports(store, tmp_path / "clone")
    shutil.rmtree(tmp_path / "clone" / "runs")
    built = build_comparison(store.uri, read_run_ids(files), tmp_path / "out", log_to_mlflow=False, run_files=files)
    assert built.restored_runs == 0 and built.markdown.is_file()
