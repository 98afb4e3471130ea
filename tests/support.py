"""Helpers shared by tests (importable: pyproject puts tests/ on pytest's pythonpath)."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
import yaml

from mlpbench.io import array_sha256

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The data set the MNIST-shaped tiny data stands in for, named in every composition that needs it, so
# that no test depends on which data set conf/config.yaml makes the default.
TEST_DATA = "data=mnist"


def mnist_identity() -> dict:
    """The identity the normalise stage writes for conf/data/mnist.yaml (manifest.json's ``dataset``)."""
    from mlpbench.compose import compose
    from mlpbench.config.data import load_data
    from mlpbench.data.identity import identity

    return identity(load_data(compose(PROJECT_ROOT, [TEST_DATA])))


def write_learnable_data(root: Path, n_train: int = 300, n_test: int = 100, seed: int = 0) -> Path:
    """Normalised arrays and a split under ``root/data`` (as the data stages leave them).

    Pixels are in [0, 1]; each label brightens its own band of 78 pixels, so a model can learn.
    Returns ``root``.
    """
    rng = np.random.default_rng(seed)
    processed, split = root / "data" / "processed", root / "data" / "split"
    processed.mkdir(parents=True)
    split.mkdir(parents=True)
    manifest = {"dataset": mnist_identity()}  # MNIST's shape and classes: runs compose data=mnist
    for part, n in (("train", n_train), ("test", n_test)):
        labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
        images = 0.4 * rng.random((n, 784), dtype=np.float32)
        for i, label in enumerate(labels):
            images[i, label * 78 : (label + 1) * 78] += 0.6
        np.save(processed / f"{part}_images.npy", images.astype(np.float32))
        np.save(processed / f"{part}_labels.npy", labels)
        manifest[f"{part}_images"] = {"shape": list(images.shape), "sha256": array_sha256(images)}
        manifest[f"{part}_labels"] = {"shape": list(labels.shape), "sha256": array_sha256(labels)}
    (processed / "manifest.json").write_text(json.dumps(manifest))
    n_val = n_train // 5
    train_idx, val_idx = np.arange(n_val, n_train, dtype=np.int64), np.arange(n_val, dtype=np.int64)
    np.save(split / "train_idx.npy", train_idx)
    np.save(split / "val_idx.npy", val_idx)
    # The default data.split (conf/config.yaml), so that runs with it accept this split,
    # and the hashes the split stage records, so that loading checks the files as it does for real.
    hashes = {"labels": array_sha256(np.load(processed / "train_labels.npy")),
              "train_idx": array_sha256(train_idx), "val_idx": array_sha256(val_idx)}
    (split / "split.json").write_text(json.dumps({"dataset": "mnist", "val_fraction": 0.2, "seed": 42,
                                                  "sha256": hashes}))
    return root


def tiny_config(root: Path, overrides: Sequence[str] = ()) -> dict:
    """The real conf/ composed with ``overrides``, shrunk, pointed at ``root``'s data and store.

    Batches of 32 take a smaller learning rate than the default's (0.3 at batch 768): at 0.2 and
    above, all but one of the tiny model's 16 ReLU units die within 3 epochs on the tiny data.
    """
    from mlpbench.compose import compose

    values = compose(PROJECT_ROOT, [TEST_DATA, "train.epochs=2", "model.hidden_sizes=[16]", "train.batch_size=32",
                                    "optim.lr=0.1", "train.threads=1", "train.seeds=1", *overrides])
    values["data"]["paths"] = {name: str(root / "data" / name) for name in ("raw", "processed", "split")}
    values["tracking"]["uri"] = f"sqlite:///{root / 'mlflow.db'}"
    return values


PIPELINE_FILES = (".dvc/config", ".dvc/plots.html", ".dvcignore", ".gitignore", "dvc.yaml", "params.yaml")
PIPELINE_DIRS = ("conf", "hydra_plugins", "pipelines", "src")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    """End a process a test started: SIGTERM, then SIGKILL if it has not exited within ``timeout`` s."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_checked(cmd: Sequence[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    """Run ``cmd``; return stdout + stderr; fail the test with both when it fails or hangs."""
    try:
        done = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"{' '.join(cmd)} ran past {timeout} s\nstdout:\n{err.stdout}\nstderr:\n{err.stderr}")
    output = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, f"{' '.join(cmd)} exited {done.returncode}\n{output}"
    return output


def make_pipeline_repo(tmp_path: Path, **env_extra: str) -> tuple[Path, dict[str, str]]:
    """A git + DVC repository in ``tmp_path/repo`` holding what `dvc repro` needs, and its env.

    Only conf/, pipelines/, src/, the DVC files and .gitignore are copied (never .venv/ or data/);
    as in a clone, git ignores what the pipeline and MLflow write. The copy's
    own src/ comes first on PYTHONPATH, so stages run the code DVC hashes as their dependencies;
    MLFLOW_TRACKING_URI is removed, so runs land in the copy's own mlflow.db.
    """
    repo = tmp_path / "repo"
    # "data" must not be an ignore pattern: it would also drop src/mlpbench/data/.
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in PIPELINE_DIRS:
        shutil.copytree(PROJECT_ROOT / name, repo / name, ignore=ignore)
    for name in PIPELINE_FILES:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, repo / name)
    select_test_data(repo)
    env = pipeline_env(repo, tmp_path / "dvc-site-cache", **env_extra)
    run_checked(["git", "init", "-q"], repo, env)
    commit_all(repo, env, "pipeline")
    return repo, env


def select_test_data(repo: Path) -> None:
    """Make MNIST (``TEST_DATA``) the default data set of the copy's conf/ and params.yaml, whichever the
    project's is: the copies hold tiny data under MNIST's file names, and `dvc exp run` composes conf/ anew."""
    config = repo / "conf" / "config.yaml"
    text = config.read_text()
    selected = re.sub(r"^(\s*- data: )\S+", rf"\g<1>{TEST_DATA.split('=')[1]}", text, count=1, flags=re.M)
    if selected != text:
        from dvc.utils.hydra import compose_and_dump

        config.write_text(selected)
        compose_and_dump(repo / "params.yaml", str(repo / "conf"), None, "config", str(repo), [])


def data_dir(repo: Path, role: str) -> Path:
    """The folder ``role`` (raw, processed, split) of params.yaml's data set in the copy ``repo``."""
    return repo / yaml.safe_load((repo / "params.yaml").read_text())["data"]["paths"][role]


# What every process a pipeline test starts (dvc and its stages) gets: one-thread BLAS and OpenMP pools, which
# the stages' train.threads=0 (the library default) then uses. pytest-xdist already runs two tests at once on
# the 2-core CI machine; with two-thread pools in both, each pool spin-waits for the core the other test holds
# (in CI the committed-state test took 874 s beside the full-pipeline tests, against 334 s alone; spinning pools
# are the likely cause).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def pipeline_env(repo: Path, site_cache: Path, **env_extra: str) -> dict[str, str]:
    """The environment of a pipeline repository ``repo``: its own src/ first on PYTHONPATH, no
    MLFLOW_TRACKING_URI, DVC's site cache in ``site_cache``, one-thread pools (``ONE_THREAD``)."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update({
        **ONE_THREAD,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(repo / "src"),
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(site_cache),
        "GIT_CONFIG_NOSYSTEM": "1",
        "CI": "1",
        **env_extra,
    })
    return env


def copy_pipeline_repo(repo: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of pipeline repository ``repo`` in ``tmp_path/repo`` with all it holds (git history, DVC
    cache, outputs, MLflow store), and its env: a test that changes it leaves ``repo`` as it was.

    The store's experiments keep their artifact folder in ``repo``: runs of the copy write their
    artifacts there, under their own run ids.
    """
    copy = tmp_path / "repo"
    shutil.copytree(repo, copy, symlinks=True)
    return copy, pipeline_env(copy, tmp_path / "dvc-site-cache")


def commit_all(repo: Path, env: dict[str, str], message: str) -> None:
    """``git add -A`` and commit everything in ``repo`` (what .gitignore lets through)."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    run_checked(git + ["add", "-A"], repo, env)
    run_checked(git + ["commit", "-q", "-m", message], repo, env)


# What run_at_once puts before each copy of a script: ``at_once(k)`` returns once every copy has called
# it with that ``k`` (a barrier of files in a folder), and ``args`` holds the script's own arguments.
_AT_ONCE = textwrap.dedent("""
    import sys, time
    from pathlib import Path

    _folder, _me, _copies, args = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4:]


    def at_once(k=0):
        (_folder / f"{k}-{_me}").touch()
        while len(list(_folder.glob(f"{k}-*"))) < _copies:
            time.sleep(0.001)
""")


def run_at_once(script: str, folder: Path, copies: int, *args: str, timeout: float = 300) -> list[str]:
    """Run ``copies`` processes of the Python ``script``, which meet with ``at_once(k)`` and read their
    own arguments ``args`` from ``args``; return their outputs. Fails the test unless every one exits 0."""
    barrier = folder / "at-once"
    barrier.mkdir()
    code = _AT_ONCE + textwrap.dedent(script)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(barrier), str(n), str(copies), *args],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for n in range(copies)]
    outputs = [proc.communicate(timeout=timeout)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * copies, "\n".join(outputs)
    return outputs


# One sweep job's ending, once per round: start a run in experiment <prefix><k>, wait until every job is there,
# then log the three splits, all jobs at once (the moment MLflow's look-then-insert races). A job whose
# logging fails says why and goes on to the next round, so that the others are not left waiting for it.
_DATASET_JOB = """
    import traceback
    import mlflow, numpy as np
    from mlpbench.tracking import datasets

    uri, prefix, rounds = args[0], args[1], int(args[2])
    mlflow.set_tracking_uri(uri)
    rng = np.random.default_rng(0)
    splits = {c: (rng.random((20, 784), dtype=np.float32), np.arange(20) % 10) for c in ("training", "validation", "test")}
    failed = False
    for k in range(rounds):
        with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name(f"{prefix}{k}").experiment_id):
            at_once(k)
            try:
                datasets.log_datasets(splits, source="/data/processed", data_sha256="ab" * 32, name="mnist")
            except Exception:
                traceback.print_exc()
                failed = True
    sys.exit(1 if failed else 0)
"""


def log_datasets_at_once(uri: str, prefix: str, folder: Path, jobs: int = 4, rounds: int = 3) -> None:
    """Run ``jobs`` processes that each log the same datasets at the same moment, ``rounds`` times, in
    the experiments ``<prefix>0``.. (created here). Fails the test unless every job logged every split
    and each experiment stores each split once, shared by its runs."""
    from mlflow.tracking import MlflowClient

    from mlpbench import tracking

    experiments = [tracking.prepare(uri, f"{prefix}{k}") for k in range(rounds)]
    run_at_once(_DATASET_JOB, folder, jobs, uri, prefix, str(rounds))
    runs = MlflowClient(uri).search_runs(experiments)
    assert len(runs) == jobs * rounds
    splits = {("mnist-train", "training"), ("mnist-validation", "validation"), ("mnist-test", "test")}
    for run in runs:
        assert {(d.dataset.name, d.tags[0].value) for d in run.inputs.dataset_inputs} == splits
    for experiment in experiments:
        assert len({(d.dataset.name, d.dataset.digest) for r in runs if r.info.experiment_id == experiment
                    for d in r.inputs.dataset_inputs}) == 3


IDX_NAMES = {"train_images": "train-images.idx3.gz", "train_labels": "train-labels.idx1.gz",
             "test_images": "test-images.idx3.gz", "test_labels": "test-labels.idx1.gz"}


def write_idx_data_set(folder: Path, name: str, image_shape: tuple[int, int] = (8, 8), num_classes: int = 10,
                       n_train: int = 400, n_test: int = 80, seed: int = 0) -> dict:
    """A small learnable IDX data set that is not MNIST: four .gz files (not MNIST's names) in ``folder``,
    each class brightening its own band of pixels. Returns the ``conf/data/<name>.yaml`` that describes it
    (the files' real sizes and sha256), so the download stage fetches it from ``folder`` as a mirror."""
    import gzip
    import hashlib

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows, cols = image_shape
    band = rows * cols // num_classes
    files = {}
    for part, n in (("train", n_train), ("test", n_test)):
        labels = rng.permutation(np.arange(n) % num_classes).astype(np.uint8)
        images = rng.integers(0, 100, size=(n, rows * cols), dtype=np.uint8)
        for i, label in enumerate(labels):
            images[i, label * band:(label + 1) * band] += 150
        contents = {f"{part}_images": (2051, (n, rows, cols), images.tobytes()),
                    f"{part}_labels": (2049, (n,), labels.tobytes())}
        for role, (magic, dims, payload) in contents.items():
            header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in dims)
            packed = gzip.compress(header + payload, mtime=0)
            (folder / IDX_NAMES[role]).write_bytes(packed)
            files[role] = {"name": IDX_NAMES[role], "size": len(packed), "sha256": hashlib.sha256(packed).hexdigest()}
    return {"name": name, "title": name.capitalize(), "files": files, "image_shape": [rows, cols],
            "num_classes": num_classes, "download": {"mirrors": [], "offline_mirror": None, "timeout": 5}}
