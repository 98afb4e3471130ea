"""`dvc repro` of the whole DAG on tiny synthetic data in a temporary copy of the repository.

The fake raw files cannot pass the download stage's checksums (they are not MNIST), so they are
put in place and recorded with `dvc commit download`; every later stage then really runs:
normalise, split, train@{numpy,torch}, tutorial@{numpy,torch} and report, with MLflow writing
to the copy's own mlflow.db.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from support import make_pipeline_repo, run_checked

pytestmark = pytest.mark.slow
TRAIN_STAGES = ("train@numpy", "train@torch", "tutorial@numpy", "tutorial@torch")
TINY_SCALING = ["scaling.grids.quick.widths=[16]", "scaling.grids.quick.batch_sizes=[8]",
                "scaling.grids.quick.depths=[1]", "scaling.grids.quick.dtypes=[float32]",
                "scaling.grids.quick.repeats=2"]


def dvc(repo: Path, env: dict[str, str], *args: str) -> str:
    return run_checked([sys.executable, "-m", "dvc", *args], repo, env, timeout=600)


def shrink_params(repo: Path) -> None:
    """Compose conf/ with small-model overrides into params.yaml, as `make params` would."""
    from mlpbench.compose import compose

    values = compose(repo, ["model.hidden_sizes=[16]", "train.epochs=2", "train.batch_size=64", *TINY_SCALING])
    (repo / "params.yaml").write_text(yaml.safe_dump(values, sort_keys=False))


def shrink_torch_options(repo: Path) -> None:
    """The copy's conf/torch_options: eager float32 and bf16 autocast only, since `dvc exp run` composes
    conf/ anew (torch.compile's compilation would take longer than the rest of the pipeline)."""
    path = repo / "conf" / "torch_options" / "default.yaml"
    values = yaml.safe_load(path.read_text())
    values["variants"] = ["bf16_autocast"]
    path.write_text(yaml.safe_dump(values, sort_keys=False))


@pytest.fixture
def repo(tmp_path, tiny_raw_dir) -> tuple[Path, dict[str, str]]:
    repo, env = make_pipeline_repo(tmp_path)
    shrink_torch_options(repo)
    shrink_params(repo)
    shutil.copytree(tiny_raw_dir, repo / "data" / "raw")
    dvc(repo, env, "commit", "--force", "download")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    run_checked(git + ["add", "-A"], repo, env)
    run_checked(git + ["commit", "-q", "-m", "tiny data"], repo, env)
    return repo, env


def test_repro_trains_tracks_reports_then_is_a_no_op_and_exp_run_changes_training(repo):
    repo, env = repo
    first = dvc(repo, env, "repro")
    for stage in ("normalise", "split", *TRAIN_STAGES, "report", "scaling", "torch_options"):
        assert f"Running stage '{stage}'" in first, first
    assert "Running stage 'download'" not in first

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    runs = {}
    for name in ("numpy", "torch", "tutorial_numpy", "tutorial_torch"):
        identity = json.loads((repo / "metrics" / f"{name}_run.json").read_text())
        run = client.get_run(identity["run_id"])
        numbers = json.loads((repo / "metrics" / f"{name}.json").read_text())[name]
        assert numbers["test_acc"] == run.data.metrics["test/acc"]
        runs[name] = run
        assert run.info.status == "FINISHED"
        assert run.data.params["backend"] == name.split("_")[-1]
        assert {"val/acc", "test/acc", "time/total_s"} <= set(run.data.metrics)
        assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"config.yaml", "figures"}
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
    # the train stages register their models; the tutorial reruns do not
    for backend in ("numpy", "torch"):
        version = client.get_model_version_by_alias(f"{backend}-mlp", "current")
        assert version.run_id == runs[backend].info.run_id
    assert not client.search_registered_models("name = 'numpy-mlp-tutorial'")

    # `dvc exp show`: numbers only, each column named <stage>.<metric>, accuracies and epoch times first
    shown = dvc(repo, env, "exp", "show", "--csv")
    header = next(line for line in shown.splitlines() if line.startswith("Experiment,")).split(",")
    metrics = header[header.index("parent") + 1:header.index("parent") + 7]
    assert metrics == ["numpy.val_acc", "numpy.test_acc", "numpy.epoch_s", "torch.val_acc", "torch.test_acc",
                       "torch.epoch_s"], header

    second = dvc(repo, env, "repro")
    assert "Running stage" not in second, second

    # `dvc plots show` shows the report's figures as images: a page that needs no network.
    dvc(repo, env, "plots", "show", "-o", "dvc_plots")
    page = (repo / "dvc_plots" / "index.html").read_text()
    assert page.count("<img") == 3 and "https://" not in page, page[:2000]

    dvc(repo, env, "exp", "run", "-S", "train.epochs=1")
    for backend in ("numpy", "torch"):
        identity = json.loads((repo / "metrics" / f"{backend}_run.json").read_text())
        assert identity["run_id"] != runs[backend].info.run_id
        assert client.get_run(identity["run_id"]).data.params["train.epochs"] == "1"
    tutorial = json.loads((repo / "metrics" / "tutorial_numpy_run.json").read_text())
    assert tutorial["run_id"] == runs["tutorial_numpy"].info.run_id  # its params did not change


def test_queued_experiments_log_to_the_repository_store(repo):
    repo, env = repo
    dvc(repo, env, "repro")
    for lr in ("0.05", "0.2"):
        dvc(repo, env, "exp", "run", "--queue", "-S", f"optim.lr={lr}", "-S", "train.epochs=1")
    dvc(repo, env, "queue", "start", "-j", "2")
    deadline = time.monotonic() + 600
    while "Queued" in (status := dvc(repo, env, "queue", "status")) or "Running" in status:
        assert time.monotonic() < deadline, status
        time.sleep(2)
    assert status.count("Success") == 2 and "Failed" not in status, status

    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("mlpbench").experiment_id])
    queued = [r for r in runs if r.data.tags.get("dvc_experiment")]
    # Every stage of both experiments ran (the first repro is not committed, so their baseline has
    # no results): train and tutorial for each backend, all in the repository's own store.
    assert len(queued) == 8 and {r.info.status for r in queued} == {"FINISHED"}
    assert sorted(r.data.params["optim.lr"] for r in queued if r.data.tags["preset"] == "default") == \
        ["0.05", "0.05", "0.2", "0.2"]
    assert len({r.data.tags["dvc_experiment"] for r in queued}) == 2
