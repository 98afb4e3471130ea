"""`dvc push` to an S3 remote (moto's server on 127.0.0.1), `dvc pull` into a fresh clone: the raw data,
the split and a model come back bit for bit, the normalised arrays (not cached) are rebuilt from the
raw data bit for bit, and the clone trains without downloading MNIST again."""
from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from support import TEST_DATA, data_dir, make_pipeline_repo, run_checked

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.xdist_group("cluster")]  # one worker starts the services
SHARED = ("raw", "processed", "split")  # the data set's folders, and models/numpy
GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]


def dvc(repo: Path, env: dict[str, str], *args: str) -> str:
    return run_checked([sys.executable, "-m", "dvc", *args], repo, env, timeout=600)


def digests(repo: Path) -> dict[str, str]:
    """sha256 of every file under the shared folders, by path relative to the repository."""
    folders = [data_dir(repo, role) for role in SHARED] + [repo / "models" / "numpy"]
    return {str(f.relative_to(repo)): hashlib.sha256(f.read_bytes()).hexdigest()
            for folder in folders for f in sorted(folder.rglob("*")) if f.is_file()}


@pytest.fixture
def repo(tmp_path, tiny_raw_dir, s3):
    """A pipeline repository whose data, split and numpy model are made (tiny data) and committed."""
    from mlpbench.compose import compose

    env_s3 = {k: v for k, v in s3.items() if k != "endpoint"}
    repo, env = make_pipeline_repo(tmp_path, **env_s3)
    values = compose(repo, [TEST_DATA, "model.hidden_sizes=[16]", "train.epochs=1", "train.batch_size=64"])
    (repo / "params.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    shutil.copytree(tiny_raw_dir, data_dir(repo, "raw"))
    dvc(repo, env, "commit", "--force", "download")
    dvc(repo, env, "repro", "train@numpy")
    return repo, env


def test_push_then_pull_into_a_fresh_clone_restores_the_data_and_model_bit_for_bit(repo, s3, tmp_path):
    import boto3

    repo, env = repo
    boto3.client("s3", endpoint_url=s3["endpoint"], aws_access_key_id="testing", aws_secret_access_key="testing",
                 region_name="us-east-1").create_bucket(Bucket="mlpbench")
    dvc(repo, env, "remote", "add", "-d", "storage", "s3://mlpbench/dvc")
    dvc(repo, env, "remote", "modify", "storage", "endpointurl", s3["endpoint"])
    run_checked(GIT + ["add", "-A"], repo, env)
    run_checked(GIT + ["commit", "-q", "-m", "data, model and remote"], repo, env)
    pushed = dvc(repo, env, "push")
    assert "pushed" in pushed, pushed

    clone = tmp_path / "node"
    run_checked(["git", "clone", "-q", str(repo), str(clone)], tmp_path, env)
    env_clone = {**env, "PYTHONPATH": str(clone / "src"), "MLPBENCH_DATA_MIRROR": str(tmp_path / "no-mirror")}
    assert not data_dir(clone, "raw").exists()
    dvc(clone, env_clone, "pull", "download", "split", "train@numpy")
    assert not data_dir(clone, "processed").exists()  # cache: false, rebuilt where needed
    rebuilt = dvc(clone, env_clone, "repro", "normalise")
    assert "Running stage 'normalise'" in rebuilt and "Running stage 'download'" not in rebuilt, rebuilt
    assert digests(clone) == digests(repo) and len(digests(repo)) >= 10

    # The compute node trains from the pulled data: nothing before training reruns, nothing downloads.
    status = dvc(clone, env_clone, "status", "download", "normalise", "split")
    assert "up to date" in status, status
    trained = dvc(clone, env_clone, "repro", "--force", "--single-item", "train@numpy")
    assert "Running stage 'train@numpy'" in trained and "download" not in trained, trained
