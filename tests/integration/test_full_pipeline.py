"""`dvc repro` of the whole DAG on tiny synthetic data in a temporary copy of the repository.

The fake raw files cannot pass the download stage's checksums (they are not MNIST), so they are
put in place and recorded with `dvc commit download`; every later stage then really runs:
normalise, split, train@{backend}, tutorial@{backend} (every registered backend) and report, with MLflow
writing to the copy's own mlflow.db. The DAG is reproduced once for the module (``reproduced``); the test
that only reads it uses it as it is, the one that runs experiments works on a copy of it.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from mlpbench.options import BACKENDS
from mlpbench.tracking.tags import GROUP_TAG

from support import (TEST_DATA, commit_all, copy_pipeline_repo, data_dir, make_pipeline_repo, run_checked,
                     write_idx_data_set)

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("full_pipeline")]  # one worker reproduces once
TRAIN_STAGES = tuple(f"{stage}@{b}" for stage in ("train", "tutorial") for b in BACKENDS)
TRAIN_NAMES = (*BACKENDS, *(f"tutorial_{b}" for b in BACKENDS))  # what each of those stages' files are named
# Written into the copy's conf/config.yaml (after its defaults, so over the groups' values): `dvc exp run`
# composes params.yaml from conf/ anew, and every experiment must stay this small. The torch options study
# keeps eager float32 and bf16 autocast (torch.compile's compilation would take longer than the rest).
TINY = {"model": {"hidden_sizes": [16]}, "train": {"epochs": 2, "batch_size": 64, "seeds": 2},
        "scaling": {"grids": {"quick": {"widths": [16], "batch_sizes": [8], "depths": [1], "dtypes": ["float32"],
                                        "repeats": 2}}},
        "torch_options": {"variants": ["bf16_autocast"]}}


def dvc(repo: Path, env: dict[str, str], *args: str) -> str:
    return run_checked([sys.executable, "-m", "dvc", *args], repo, env, timeout=600)


def shrink(repo: Path) -> None:
    """Make the copy's conf/ small, then compose params.yaml from it, as `make params` would."""
    from mlpbench.compose import compose

    config = repo / "conf" / "config.yaml"
    config.write_text(config.read_text() + "\n" + yaml.safe_dump(TINY, sort_keys=False))
    (repo / "params.yaml").write_text(yaml.safe_dump(compose(repo, [TEST_DATA]), sort_keys=False))


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory, make_tiny_mnist) -> tuple[Path, dict[str, str], str]:
    """The tiny DAG reproduced and committed as the baseline: (repository, env, `dvc repro`'s output)."""
    folder = tmp_path_factory.mktemp("pipeline")
    repo, env = make_pipeline_repo(folder)
    shrink(repo)
    make_tiny_mnist(data_dir(repo, "raw"))
    dvc(repo, env, "commit", "--force", "download")
    commit_all(repo, env, "tiny data")
    first = dvc(repo, env, "repro")
    commit_all(repo, env, "baseline results")
    return repo, env, first


def test_repro_trains_tracks_and_reports_then_is_a_no_op(reproduced, tmp_path):
    repo, env, first = reproduced
    for stage in ("normalise", "split", *TRAIN_STAGES, "report", "scaling", "torch_options"):
        assert f"Running stage '{stage}'" in first, first
    assert "Running stage 'download'" not in first

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    runs, groups = {}, {}  # each stage's first seed's run, and its seed group's parent run
    for name in TRAIN_NAMES:
        identity = json.loads((repo / "metrics" / f"{name}_run.json").read_text())
        group = client.get_run(identity["run_id"])
        seeds = [client.get_run(identity["seed_runs"][s]) for s in ("0", "1")]
        numbers = json.loads((repo / "metrics" / f"{name}.json").read_text())
        assert numbers["test_acc"] == group.data.metrics["test/acc"]  # the mean over the two seeds
        assert numbers["test_acc"] == pytest.approx(sum(r.data.metrics["test/acc"] for r in seeds) / 2)
        assert list(numbers) == ["val_acc", "test_acc", "sd", "epoch_s"]
        runs[name], groups[name] = seeds[0], group
        assert group.info.status == "FINISHED" and group.data.metrics["seeds"] == 2
        for run in seeds:
            assert run.info.status == "FINISHED" and run.data.tags["mlflow.parentRunId"] == group.info.run_id
            assert run.data.params["backend"] == name.split("_")[-1]
            assert {"val/acc", "test/acc", "time/total_s"} <= set(run.data.metrics)
            assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"config.yaml", "test_errors.json"}
        assert {a.path for a in client.list_artifacts(group.info.run_id)} >= {"figures"}
        assert (repo / "models" / name / "weights.npz").is_file()
    assert runs["numpy"].data.params["model.hidden_sizes"] == "[16]"
    assert runs["tutorial_numpy"].data.params["model.hidden_sizes"] == "[128]"
    assert runs["tutorial_numpy"].data.tags["preset"] == "tutorial"
    report = (repo / "reports" / "comparison.md").read_text()
    assert runs["numpy"].info.run_id in report and "Tutorial (published)" in report
    study = json.loads((repo / "metrics" / "torch_options_run.json").read_text())
    assert list(study["runs"])[:2] == ["eager", "bf16_autocast"]
    assert "## Torch's built-in optimizations, measured" in report and study["runs"]["bf16_autocast"] in report
    report_run = client.get_run(client.get_run(runs["numpy"].info.run_id).data.tags["report_run_id"])
    assert client.get_experiment(report_run.info.experiment_id).name == "mlpbench-reports"
    assert "## Differences and their noise" in report and "over 2 paired seeds" in report
    # the train stages register their models (the first seed's); the tutorial reruns do not
    for backend in BACKENDS:
        version = client.get_model_version_by_alias(f"{backend}-mlp", "current")
        assert version.run_id == runs[backend].info.run_id
    assert not client.search_registered_models("name = 'numpy-mlp-tutorial'")

    # `dvc exp show`: numbers only, each column named <file>:<metric>, accuracies and epoch times first
    shown = dvc(repo, env, "exp", "show", "--csv")
    header = next(line for line in shown.splitlines() if line.startswith("Experiment,")).split(",")
    metrics = header[header.index("parent") + 1:header.index("parent") + 1 + 4 * len(BACKENDS)]
    keys = ("val_acc", "test_acc", "sd", "epoch_s")
    assert metrics == [f"metrics/{b}.json:{k}" for b in BACKENDS for k in keys], header
    # `dvc metrics show`: a row per file (every stage's and each torch option's) under the same four columns
    table = dvc(repo, env, "metrics", "show").split("stdout:\n", 1)[1].split("\nstderr:", 1)[0].strip().splitlines()
    assert table[0].split() == ["Path", *sorted(keys)], table
    files = [*(f"metrics/{name}.json" for name in TRAIN_NAMES), *(f"metrics/torch_options/{variant}.json"
                                                                  for variant in ("eager", "bf16_autocast"))]
    assert sorted(row.split()[0] for row in table[1:]) == sorted(files), table

    second = dvc(repo, env, "repro")
    assert "Running stage" not in second, second

    # `dvc plots show` shows the report's figures as images and each stage's history as a chart
    dvc(repo, env, "plots", "show", "-o", str(tmp_path / "dvc_plots"))
    page = (tmp_path / "dvc_plots" / "index.html").read_text()
    # compared, curves_<backend>, curves_compared, step_attribution
    assert page.count("<img") == 3 + len(BACKENDS), page[:2000]
    assert all(f'"metrics/{name}_history.csv"' in page for name in TRAIN_NAMES), page[:2000]


def test_experiments_rerun_only_the_stages_whose_params_they_change(reproduced, tmp_path):
    repo, env = copy_pipeline_repo(reproduced[0], tmp_path)
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    # train.epochs is a param of the train stages only: each queued experiment reruns train@<backend> of
    # every backend and the report, and restores the rest from the committed baseline.
    for epochs in ("1", "3"):
        dvc(repo, env, "exp", "run", "--queue", "-S", f"train.epochs={epochs}")
    dvc(repo, env, "queue", "start", "-j", "2")
    deadline = time.monotonic() + 600
    while "Queued" in (status := dvc(repo, env, "queue", "status")) or "Running" in status:
        assert time.monotonic() < deadline, status
        time.sleep(2)
    assert status.count("Success") == 2 and "Failed" not in status, status

    runs = client.search_runs([client.get_experiment_by_name("mlpbench").experiment_id])
    queued = [r for r in runs if r.data.tags.get("dvc_experiment") and r.data.tags.get(GROUP_TAG) == "group"]
    seed_runs = [r for r in runs if r.data.tags.get("dvc_experiment") and r.data.tags.get(GROUP_TAG) == "seed"]
    # Both experiments' train stages ran, for each backend (a seed group of two), all in the repository's store.
    assert len(queued) == 2 * len(BACKENDS) and {r.info.status for r in queued} == {"FINISHED"}
    assert len(seed_runs) == 2 * len(queued) and {r.info.status for r in seed_runs} == {"FINISHED"}
    assert {r.data.tags["preset"] for r in queued} == {"default"}
    assert sorted(r.data.params["train.epochs"] for r in queued) == ["1"] * len(BACKENDS) + ["3"] * len(BACKENDS)
    assert len({r.data.tags["dvc_experiment"] for r in queued}) == 2
    for experiment in {r.data.tags["dvc_experiment"] for r in queued}:
        assert sorted(r.data.params["backend"] for r in queued
                      if r.data.tags["dvc_experiment"] == experiment) == sorted(BACKENDS)

    # conf/ was composed anew with the override (the copy's small net kept); the tutorial stages, whose params
    # the override does not touch, were restored, not rerun (the workspace's `dvc exp run`: the next test)
    assert {r.data.params["model.hidden_sizes"] for r in queued} == {"[16]"}
    assert not [r for r in runs if r.data.tags.get("dvc_experiment") and r.data.tags.get("preset") == "tutorial"]


def test_a_second_data_set_runs_end_to_end_through_dvc_exp_run(reproduced, tmp_path):
    """A new IDX data set is one YAML file: `dvc exp run -S data=<name>` downloads it from a local mirror and
    runs every stage on it; every run it records, its models and its reports name that data set alone, and the
    MNIST files stay where they were."""
    repo, env = copy_pipeline_repo(reproduced[0], tmp_path)
    data = write_idx_data_set(tmp_path / "mirror", "digits8")
    (repo / "conf" / "data" / "digits8.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    commit_all(repo, env, "a second data set")
    mnist_files = {p: p.read_bytes() for p in data_dir(repo, "processed").parent.rglob("*") if p.is_file()}
    started = int(time.time() * 1000)

    out = dvc(repo, {**env, "MLPBENCH_DATA_MIRROR": str(tmp_path / "mirror")}, "exp", "run", "-S", "data=digits8")
    for stage in ("download", "normalise", "split", *TRAIN_STAGES, "torch_options", "scaling", "report"):
        assert f"Running stage '{stage}'" in out, out
    assert data_dir(repo, "processed") == repo / "data" / "digits8" / "processed"
    assert {p: p.read_bytes() for p in mnist_files} == mnist_files  # MNIST's files untouched

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    made = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])
            if r.info.start_time >= started]
    trained = [r for r in made if "backend" in r.data.params]
    # two seeds and their group for each train and tutorial stage, and the torch options' variants
    assert len(trained) >= 3 * len(TRAIN_STAGES) + 2, [r.info.run_name for r in made]
    tagged = [r for r in made if "dataset" in r.data.tags]
    assert {r.data.tags["dataset"] for r in tagged} == {"digits8"}
    assert {r.data.tags["dataset_title"] for r in tagged} == {"Digits8"}
    assert set(trained) <= set(tagged) and any(r.data.tags.get("study") == "torch_options" for r in tagged)
    for run in trained:
        assert {d.dataset.name for d in run.inputs.dataset_inputs} <= {"digits8-train", "digits8-validation",
                                                                         "digits8-test"}
    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    for backend in BACKENDS:  # the registered models take the new data set's 64 pixels
        version = client.get_model_version_by_alias(f"{backend}-mlp", "current")
        assert version.run_id in {r.info.run_id for r in trained}
        signature = mlflow.models.get_model_info(f"models:/{backend}-mlp@current").signature
        assert tuple(signature.inputs.inputs[0].shape) == (-1, 64), signature

    report = (repo / "reports" / "comparison.md").read_text()
    assert report.splitlines()[0] == "# mlpbench: NumPy (from scratch) vs PyTorch on Digits8"
    said = "The reference tutorial published numbers for MNIST only, so none are shown for these runs on Digits8."
    assert said in report and "published" not in report.replace(said, "").lower()  # no MNIST numbers borrowed
    assert "MNIST" not in report.replace(said, "") and "Tutorial setup, rerun here" in report
