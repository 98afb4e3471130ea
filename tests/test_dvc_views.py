"""What `dvc metrics show`, `dvc metrics diff`, `dvc exp show`, `dvc dag` and `dvc plots diff` print for the
project's dvc.yaml, with output files written by the project's own writers, in a small git + DVC repository.

No stage runs: DVC reads the declared metrics and plots from the files, so the views are checked in seconds.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlpbench.io import write_json
from mlpbench.options import BACKENDS
from mlpbench.run.record import history_csv, metrics_file_content
from mlpbench.torch_options.study import STEADY, StudyResult, write_files
from mlpbench.training import TrainResult
from mlpbench.training.engine import EpochMetrics

from support import PROJECT_ROOT, commit_all, pipeline_env, run_checked

WIDTH = 120  # a terminal the README's commands must fit
STAGES = (*BACKENDS, *(f"tutorial_{b}" for b in BACKENDS))
VARIANTS = ("eager", "fused")
README = (PROJECT_ROOT / "README.md").read_text()


def dvc(repo: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, env={**env, "COLUMNS": "200"},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"dvc {' '.join(args)} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def readme_command(prefix: str) -> list[str]:
    """The README's command line that starts with ``prefix`` (in a code block), as arguments after `dvc`."""
    line = next((m for m in re.findall(r"^(dvc [^\n#]*?)\s*(?:#.*)?$", README, re.M) if m.startswith(prefix)), None)
    assert line, f"the README recommends no command starting {prefix!r}"
    return [arg.strip("'") for arg in re.findall(r"'[^']*'|\S+", line)][1:]


def write_outputs(repo: Path, shift: float) -> None:
    """Each train and tutorial stage's metrics file and history, and the torch options study's files, as the
    stages write them; ``shift`` moves every accuracy, as another experiment would."""
    for i, name in enumerate(STAGES):
        short = {"val_acc": 0.9 + shift + i / 100, "test_acc": 0.91 + shift, "sd": 0.001, "epoch_s": 0.5 + i,
                 "train_acc": 0.99}
        write_json(repo / "metrics" / f"{name}.json", metrics_file_content(short), sort_keys=False)
        history = [EpochMetrics(epoch, 1 / epoch, 0.8 + shift, 1.1 / epoch, 0.7 + shift + epoch / 100, 0.1, 1.0, 0.1,
                                1000.0) for epoch in (1, 2, 3)]
        result = TrainResult(history, 3, 0.1, 0.9, np.eye(10, dtype=np.int64), 3.0)
        (repo / "metrics" / f"{name}_history.csv").write_text(history_csv(result))
    metrics = {v: {"final/val_acc": 0.9 + shift, "test/acc": 0.91 + shift, STEADY: 1.0} for v in VARIANTS}
    study = StudyResult("quick", {v: f"run-{v}" for v in VARIANTS}, {}, {}, metrics, "1", "sqlite:///unused.db")
    write_files(study, repo / "metrics" / "torch_options_run.json", repo / "metrics" / "torch_options")


@pytest.fixture(scope="module")
def views(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A repository with the project's dvc.yaml, params.yaml and DVC config and two commits of outputs (accuracies
    0.01 apart): (repository, env)."""
    folder = tmp_path_factory.mktemp("views")
    repo = folder / "repo"
    repo.mkdir()
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(PROJECT_ROOT / name, repo / name)
    env = pipeline_env(repo, folder / "dvc-site-cache")
    run_checked(["git", "init", "-q"], repo, env)
    dvc(repo, env, "init", "-q")
    for name in ("config", "plots.html"):
        shutil.copy2(PROJECT_ROOT / ".dvc" / name, repo / ".dvc" / name)
    write_outputs(repo, 0.0)
    commit_all(repo, env, "first")
    write_outputs(repo, 0.01)
    commit_all(repo, env, "second")
    return repo, env


def test_metrics_show_gives_each_file_a_row_under_the_same_four_columns(views):
    repo, env = views
    lines = dvc(repo, env, "metrics", "show").splitlines()
    assert lines[0].split() == ["Path", "epoch_s", "sd", "test_acc", "val_acc"], lines[0]
    files = [f"metrics/{name}.json" for name in STAGES] + [f"metrics/torch_options/{v}.json" for v in VARIANTS]
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(files)
    assert max(map(len, lines)) <= WIDTH, "\n".join(lines)


def test_metrics_diff_names_the_file_and_the_metric(views):
    repo, env = views
    lines = dvc(repo, env, "metrics", "diff", "HEAD~1", "HEAD").splitlines()
    assert lines[0].split() == ["Path", "Metric", "HEAD~1", "HEAD", "Change"], lines[0]
    assert any(line.split()[:4] == ["metrics/numpy.json", "val_acc", "0.9", "0.91"] for line in lines), lines
    assert max(map(len, lines)) <= WIDTH, "\n".join(lines)


def test_exp_show_names_each_backends_numbers_and_the_readme_command_fits(views):
    repo, env = views
    header = next(line for line in dvc(repo, env, "exp", "show", "--csv").splitlines()
                  if line.startswith("Experiment,")).split(",")
    for backend in BACKENDS:
        assert [f"metrics/{backend}.json:{k}" in header for k in ("val_acc", "test_acc", "sd", "epoch_s")] == [True] * 4
    shown = dvc(repo, env, *readme_command("dvc exp show --keep"), "--no-pager").splitlines()
    assert all(f"metrics/{backend}.json:test_acc" in shown[1] for backend in BACKENDS), shown
    assert max(len(line.rstrip()) for line in shown) <= WIDTH, "\n".join(shown)


def test_the_dag_commands_the_readme_recommends_fit_120_columns(views):
    repo, env = views
    for prefix in ("dvc dag --md", "dvc dag train@"):
        args = readme_command(prefix)
        drawn = dvc(repo, env, *args).splitlines()
        assert max(map(len, drawn)) <= WIDTH, "\n".join(drawn)
    chart = dvc(repo, env, "dag", "--md")
    scaling = re.search(r'(node\d+)\["scaling"\]', chart)  # the README's drawing: a stage of its own, no edge
    assert scaling and not re.search(rf"{scaling[1]}-->|-->{scaling[1]}\b", chart), chart


def test_plots_diff_draws_every_history_once_per_revision(views):
    repo, env = views
    shown = json.loads(dvc(repo, env, "plots", "diff", "HEAD~1", "HEAD", "--json"))
    for name in STAGES:
        [plot] = shown["data"][f"metrics/{name}_history.csv"]
        assert set(plot["revisions"]) == {"HEAD~1", "HEAD"}
        spec = plot["content"]
        assert (spec["encoding"]["x"]["field"], spec["encoding"]["y"]["field"]) == ("epoch", "val_acc"), spec["encoding"]
        curves = {rev: [float(row["val_acc"]) for row in spec["data"]["values"] if row["rev"] == rev]
                  for rev in ("HEAD~1", "HEAD")}
        assert curves == {"HEAD~1": pytest.approx([0.71, 0.72, 0.73]), "HEAD": pytest.approx([0.72, 0.73, 0.74])}


def test_the_plots_page_draws_every_history_and_says_why_a_chart_is_missing_offline(views, tmp_path):
    repo, env = views
    dvc(repo, env, "plots", "show", "-o", str(tmp_path / "page"))
    page = (tmp_path / "page" / "index.html").read_text()
    assert all(f"vegaEmbed('#metrics_{name}_history_csv'" in page for name in STAGES), page[:2000]
    assert '<p id="vega-missing" hidden' in page and page.index("vega-missing") < page.index("vegaEmbed('#")


def test_the_torch_options_study_replaces_only_the_variant_files_it_wrote(tmp_path):
    run_file, folder = tmp_path / "run.json", tmp_path / "options"
    metrics = {v: {"final/val_acc": 0.9, "test/acc": 0.91, STEADY: 1.0} for v in VARIANTS}
    write_files(StudyResult("quick", {v: v for v in VARIANTS}, {}, {}, metrics, "1", "sqlite:///unused.db"),
                run_file, folder)
    (folder / "notes.json").write_text("{}")
    write_files(StudyResult("quick", {"eager": "e"}, {}, {}, {"eager": metrics["eager"]}, "1", "sqlite:///unused.db"),
                run_file, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["eager.json", "notes.json"]
    assert json.loads((folder / "eager.json").read_text()) == {"val_acc": 0.9, "test_acc": 0.91, "epoch_s": 1.0}
