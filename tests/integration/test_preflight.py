"""Bad configs and mismatched files fail before any MLflow run or output file exists.

Each case runs the real ``train_and_track`` on tiny data; none may leave a tracking store, a run
or a file behind.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mlpbench.config import ConfigError
from mlpbench.run.seeds import train_and_track

from support import PROJECT_ROOT, TEST_DATA, tiny_config, write_idx_data_set

TRAIN = [sys.executable, str(PROJECT_ROOT / "pipelines" / "train.py")]


def _assert_nothing_left(root) -> None:
    assert not (root / "mlflow.db").exists(), "a tracking store was created"
    assert not (root / "out").exists() or not any((root / "out").rglob("*.*")), "output files were written"


@pytest.mark.parametrize("overrides,message", [
    (["optim.lr=0"], "optim.lr=0.0 is invalid"),
    (["+tracking.experimnt=x"], "unknown key tracking.experimnt"),
    (["data.split.val_fraction=0.3"], "data.split.val_fraction=0.3 but the split in"),
    (["data.split.seed=7"], "data.split.seed=7 but the split in"),
    (["tracking.experiment=../../../../escape-exp"], "tracking.experiment='../../../../escape-exp' is invalid; use"),
])
def test_bad_values_fail_before_any_run(tiny_root, overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train_and_track(tiny_config(tiny_root, overrides), tiny_root, tiny_root / "out", progress=False)
    _assert_nothing_left(tiny_root)


def test_cuda_without_a_device_fails_before_any_run(tiny_root):
    import torch

    if torch.cuda.is_available():
        pytest.skip("torch sees a CUDA device here; this checks the message where it sees none")
    with pytest.raises(ConfigError, match="train.device=cuda but torch sees no CUDA device"):
        train_and_track(tiny_config(tiny_root, ["backend=torch", "train.device=cuda"]), tiny_root,
                        tiny_root / "out", progress=False)
    _assert_nothing_left(tiny_root)


@pytest.mark.parametrize("key", ["model_dir", "metrics_file"])
def test_an_output_path_that_cannot_be_written_fails_before_any_run(tiny_root, key):
    blocker = tiny_root / "a_file"
    blocker.write_text("not a folder")
    values = tiny_config(tiny_root)
    values["outputs"][key] = str(blocker / "inside")
    with pytest.raises(ConfigError, match=f"outputs.{key}=.*is not a writable folder"):
        train_and_track(values, tiny_root, tiny_root / "out", progress=False)
    _assert_nothing_left(tiny_root)


def test_a_sweep_checks_every_job_before_the_first_starts(tiny_root):
    data = tiny_root / "data"
    cmd = TRAIN + ["-m", f"hydra.sweep.dir={tiny_root / 'multirun'}", "optim.lr=0.1,0",
                   TEST_DATA, f"data.paths.processed={data / 'processed'}", f"data.paths.split={data / 'split'}",
                   f"tracking.uri=sqlite:///{tiny_root / 'mlflow.db'}", "model.hidden_sizes=[8]", "train.epochs=1"]
    done = subprocess.run(cmd, cwd=tiny_root, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "sweep not started: job 1 (optim.lr=0): optim.lr=0.0 is invalid" in done.stderr
    assert not (tiny_root / "mlflow.db").exists()
    assert not list((tiny_root / "multirun").rglob("metrics.json"))
    assert json.loads((data / "split" / "split.json").read_text())  # the data is untouched


def test_a_model_folder_a_run_did_not_write_is_refused_before_any_run(tiny_root):
    folder = tiny_root / "mine"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("keep me")
    values = tiny_config(tiny_root)
    values["outputs"]["model_dir"] = str(folder)
    with pytest.raises(ConfigError, match=r"outputs.model_dir=.*mine' holds files no run wrote \(notes.txt, sub\): "
                                          r"a run replaces only .* choose a new or empty folder"):
        train_and_track(values, tiny_root, tiny_root / "out", progress=False)
    _assert_nothing_left(tiny_root)
    assert (folder / "notes.txt").read_text() == "keep me" and (folder / "sub").is_dir()


def test_an_export_folder_that_is_no_export_is_refused_before_any_run(tiny_root):
    folder = tiny_root / "runs" / "mine"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("keep me")
    values = tiny_config(tiny_root)
    values["outputs"]["export_dir"] = str(folder)
    with pytest.raises(ConfigError, match=r"outputs.export_dir=.*mine' holds files that are not a run export "
                                          r"\(notes.txt\)"):
        train_and_track(values, tiny_root, tiny_root / "out", progress=False)
    _assert_nothing_left(tiny_root)
    assert (folder / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_a_run_replaces_the_model_folder_an_earlier_run_wrote(tiny_root):
    values = tiny_config(tiny_root, ["train.epochs=1"])
    values["outputs"]["model_dir"] = str(tiny_root / "model")
    first = train_and_track(values, tiny_root, tiny_root / "out1", progress=False)
    second = train_and_track(values, tiny_root, tiny_root / "out2", progress=False)
    manifest = json.loads((tiny_root / "model" / "mlpbench-run.json").read_text())
    assert manifest["run_id"] == second["run_id"] != first["run_id"]
    written = sorted(p.name for p in (tiny_root / "model").iterdir())
    assert sorted([*manifest["files"], "mlpbench-run.json"]) == written


def _refused(root, overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        train_and_track(tiny_config(root, overrides), root, root / "out", progress=False)
    assert "\n" not in str(err.value)
    _assert_nothing_left(root)


def test_a_model_this_machine_cannot_hold_is_refused_before_any_run(tiny_root):
    """``model.hidden_sizes=[3000000]`` created a run, then failed 15 s later allocating 17.5 GiB."""
    from mlpbench.run.machine import available_bytes

    width = available_bytes() // (785 * 4) + 1  # its first layer's float32 weights alone exceed what is free
    _refused(tiny_root, [f"model.hidden_sizes=[{width}]"],
             rf"model.hidden_sizes=\[{width}\] with optim=sgd, train.batch_size=32 and train.dtype=float32 needs at "
             r"least [\d.]+ GiB of memory, but [\d.]+ GiB is available; choose narrower layers")


def test_a_batch_larger_than_the_training_rows_is_refused(tiny_root):
    """``train.batch_size=100000`` trained full-batch while the run's name said bs100000."""
    rows = len(np.load(tiny_root / "data" / "split" / "train_idx.npy"))
    _refused(tiny_root, [f"train.batch_size={rows + 1}"],
             rf"train.batch_size={rows + 1} is more than the {rows} training rows of mnist; set train.batch_size={rows} for")


def test_more_threads_than_cpus_are_refused(tiny_root):
    """``train.threads=1000`` made NumPy 13x slower while the param said 1000 and the tag 64."""
    from mlpbench.slurm import available_cpus

    cpus = available_cpus()
    _refused(tiny_root, [f"train.threads={cpus + 1}"],
             rf"train.threads={cpus + 1} is more than the {cpus} CPUs this process may use; set at most")


def _build_data_set(root, mirror_dir, name: str) -> dict:
    """A small non-MNIST IDX data set downloaded, normalised and split under root/data (the layout of the
    tiny MNIST-shaped data, so the two are easily swapped); returns its conf/data YAML."""
    from pathlib import Path

    from mlpbench.config.data import load_data
    from mlpbench.data.download import fetch_all
    from mlpbench.data.normalise import normalise
    from mlpbench.data.split import split

    data = write_idx_data_set(mirror_dir, name)
    paths = {role: str(root / "data" / role) for role in ("raw", "processed", "split")}
    cfg = load_data({"data": {**data, "paths": paths, "split": {"val_fraction": 0.2, "seed": 42}}})
    fetch_all(Path(paths["raw"]), [str(mirror_dir)], list(vars(cfg.files).values()), progress=False)
    normalise(Path(paths["raw"]), Path(paths["processed"]), cfg)
    split(Path(paths["processed"]) / "train_labels.npy", Path(paths["split"]), 0.2, 42, 10, name)
    return data


def test_a_run_on_another_data_sets_arrays_is_refused_before_any_run(tiny_root, tmp_path_factory):
    """With MNIST arrays at its paths, a run of another data set trained on them and was tagged as that data set;
    with another data set's arrays there, the default run trained on them and was tagged mnist."""
    from mlpbench.data.identity import DataMismatchError

    other = write_idx_data_set(tmp_path_factory.mktemp("mirror"), "digits8")
    values = tiny_config(tiny_root)
    values["data"] = {**values["data"], **other}  # digits8's config, pointed at the MNIST-shaped arrays
    with pytest.raises(DataMismatchError, match=r"holds the arrays of data set 'mnist', but data.name='digits8'"):
        train_and_track(values, tiny_root, tiny_root / "out", progress=False)
    _assert_nothing_left(tiny_root)

    import shutil
    shutil.rmtree(tiny_root / "data")
    _build_data_set(tiny_root, tmp_path_factory.mktemp("mirror"), "digits8")
    with pytest.raises(DataMismatchError, match=r"holds the arrays of data set 'digits8', but data.name='mnist'"):
        train_and_track(tiny_config(tiny_root), tiny_root, tiny_root / "out", progress=False)
    _assert_nothing_left(tiny_root)


def test_a_run_of_a_data_set_whose_files_are_not_built_names_the_command(tiny_root):
    done = subprocess.run(TRAIN + ["data.name=unbuilt", f"tracking.uri=sqlite:///{tiny_root / 'mlflow.db'}"],
                          cwd=tiny_root, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("train failed: ") and "data set 'unbuilt' has no normalised arrays in " in last
    assert last.endswith("build its files with `dvc exp run -S data=unbuilt split`"), last
    _assert_nothing_left(tiny_root)


def test_a_batch_that_leaves_few_steps_per_epoch_is_named(tiny_root, caplog):
    """The default batch of 768 on a data set of 1,200 training rows trained 2 steps per epoch without a word."""
    rows = len(np.load(tiny_root / "data" / "split" / "train_idx.npy"))
    with caplog.at_level("WARNING", logger="mlpbench"):
        train_and_track(tiny_config(tiny_root, ["train.batch_size=64", "train.epochs=1"]), tiny_root,
                        tiny_root / "out", progress=False)
    assert (f"train.batch_size=64 gives only 4 steps per epoch on the {rows} training rows of mnist; a smaller batch "
            "(e.g. train.batch_size=16) gives the optimizer more steps") in caplog.text
