"""The comparison report on synthetic seed groups whose true differences are planted (``MlflowClient``, no
training): a real difference is called one, a zero difference "not distinguishable", the intervals are
scipy's, and McNemar counts the planted disagreements."""
from __future__ import annotations

import json

import numpy as np
import pytest
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient
from scipy import stats as sp

from mlpbench.report import build_comparison, read_run_ids

from .conftest import DEFAULT, TAGS, TUTORIAL
from .helpers import rows_by, table

SEEDS = (0, 1, 2, 3, 4)
N_TEST = 2000
BASE_VAL = (0.9811, 0.9822, 0.9806, 0.9818, 0.9815)
BASE_TEST = (0.9800, 0.9810, 0.9795, 0.9805, 0.9790)
ZERO = (0.0004, -0.0003, 0.0001, -0.0005, 0.0003)  # planted: no difference (mean 0)
REAL = (0.0100, 0.0110, 0.0090, 0.0105, 0.0095)  # planted: +1 point, well outside the noise
BEST = {**DEFAULT, "model.hidden_sizes": "[1024, 1024]", "train.augment_shift": "1"}
EPOCH = {"numpy": (0.80, 0.82, 0.79, 0.81, 0.80), "torch": (1.26, 1.25, 1.30, 1.27, 1.24)}


def correct_vector(accuracy: float, seed: int, shift: int) -> np.ndarray:
    """``accuracy`` of N_TEST images right; the wrong ones start at ``shift`` (another model's errors move)."""
    wrong = N_TEST - round(accuracy * N_TEST)
    right = np.ones(N_TEST, dtype=bool)
    right[(shift + np.arange(wrong) + 7 * seed) % N_TEST] = False
    return right


def log_seed(client, experiment_id, root, backend, preset, params, seed, val, test, parent) -> str:
    tags = {**TAGS, "backend": backend, "preset": preset, "backend_threads": "1", "mlflow.parentRunId": parent}
    run_id = client.create_run(experiment_id, run_name=f"{preset} {backend} seed={seed}", tags=tags).info.run_id
    epoch = EPOCH[backend][seed]
    metrics = {"final/val_acc": val, "test/acc": test, "final/train_acc": val + 0.005, "final/train_loss": 0.05,
               "final/val_loss": 0.06, "test/loss": 0.07, "epochs_run": 3, "best_epoch": 3, "time/total_s": 3 * epoch,
               "time/train_s": 2.7 * epoch, "time/epoch_median_s": epoch, "test/images": N_TEST}
    params = {"backend": backend, "preset": preset, **params, "train.seed": str(seed), "train.seeds": "5"}
    client.log_batch(run_id, metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()],
                     params=[Param(k, v) for k, v in params.items()])
    right = correct_vector(test, seed, 0 if backend == "numpy" else 500)
    client.log_dict(run_id, {"images": N_TEST, "wrong": np.flatnonzero(~right).tolist()}, "test_errors.json")
    client.set_terminated(run_id)
    return run_id


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """Three groups of 5 seeds per backend: in the default, torch's test accuracy is planted +1 point above
    NumPy's and validation equal; in the tutorial rerun and the best preset both are equal."""
    root = tmp_path_factory.mktemp("seeded")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment_id = client.create_experiment("mlpbench", artifact_location=(root / "artifacts").as_uri())
    files, truth = [], {}
    for preset, params, delta_test in (("tutorial", TUTORIAL, ZERO), ("default", DEFAULT, REAL), ("best", BEST, ZERO)):
        for backend in ("numpy", "torch"):
            parent = client.create_run(experiment_id, run_name=f"{preset} {backend} (5 seeds)").info.run_id
            runs = {}
            for s in SEEDS:
                val = BASE_VAL[s] + (ZERO[s] if backend == "torch" else 0)
                test = BASE_TEST[s] + (delta_test[s] if backend == "torch" else 0)
                runs[str(s)] = log_seed(client, experiment_id, root, backend, preset, params, s, val, test, parent)
                truth[preset, backend, s] = (val, test)
            client.set_terminated(parent)
            files.append(root / f"{preset}_{backend}_run.json")
            files[-1].write_text(json.dumps({"run_id": parent, "backend": backend, "preset": preset,
                                             "seed_runs": runs}))
    out = root / "report"
    build_comparison(uri, read_run_ids(files), out, log_to_mlflow=False, run_files=files)
    return (out / "comparison.md").read_text(encoding="utf-8"), truth


def test_a_planted_difference_is_one_and_a_planted_zero_is_not_distinguishable(seeded):
    md, _ = seeded
    text = md.split("## Differences and their noise", 1)[1].split("## Time and memory", 1)[0]
    assert ("Our default, PyTorch minus NumPy over 5 paired seeds: validation: +0.00 points" in text)
    default = text.split("- Our default", 1)[1].split("\n", 1)[0]
    assert "not distinguishable from zero: the same validation accuracy within the noise" in default
    assert "PyTorch is higher in test accuracy" in default
    tutorial = text.split("- Tutorial setup, rerun here", 1)[1].split("\n", 1)[0]
    assert "not distinguishable from zero: the same test accuracy within the noise" in tutorial
    assert "is higher" not in tutorial
    assert "PyTorch is 1." not in text and "NumPy is 1." in text


def table_row(md: str, section: str, first: str) -> list[str]:
    return next(row for row in table(md, section) if row[0] == first)


def test_the_best_preset_is_a_group_of_its_own_after_the_default(seeded):
    md, truth = seeded
    text = md.split("## Differences and their noise", 1)[1].split("## Time and memory", 1)[0]
    best = text.split("- Best preset", 1)[1].split("\n", 1)[0]
    assert "not distinguishable from zero: the same test accuracy within the noise" in best
    accuracy = rows_by(md, "Accuracy and loss")
    groups = list(dict.fromkeys(group for group, _ in accuracy))
    assert groups[groups.index("Our default") + 1] == "Best preset"
    tests = [truth["best", "numpy", s][1] for s in SEEDS]
    assert accuracy["Best preset", "numpy"][0] == "5"
    assert accuracy["Best preset", "numpy"][3].startswith(f"{np.mean(tests) * 100:.2f} ± ")
    assert table_row(md, "Configurations", "shifted images (pixels)") == ["shifted images (pixels)", "off", "off", "1"]


def test_the_intervals_are_scipys(seeded):
    md, truth = seeded
    diffs = [truth["default", "torch", s][1] - truth["default", "numpy", s][1] for s in SEEDS]
    ci = sp.ttest_rel([truth["default", "torch", s][1] for s in SEEDS],
                      [truth["default", "numpy", s][1] for s in SEEDS]).confidence_interval(0.95)
    row = rows_by(md, "Differences and their noise")["Our default", "PyTorch against NumPy"]
    assert row[0] == "5" and row[2] == f"{np.mean(diffs) * 100:+.2f} points [{ci.low * 100:+.2f}, {ci.high * 100:+.2f}]"
    tests = [truth["default", "numpy", s][1] for s in SEEDS]
    low, high = sp.t.interval(0.95, 4, loc=np.mean(tests), scale=sp.sem(tests))
    results = rows_by(md, "Accuracy and loss")["Our default", "numpy"]
    assert results[0] == "5"
    assert results[3] == f"{np.mean(tests) * 100:.2f} ± {(high - low) * 50:.2f} %"
    w = sp.binomtest(round(np.mean(tests) * N_TEST), N_TEST).proportion_ci(0.95, method="wilson")
    assert results[4] == f"[{w.low * 100:.2f}, {w.high * 100:.2f}] % of {N_TEST:,}"


def test_mcnemar_counts_the_images_only_one_backend_got_right(seeded):
    md, truth = seeded
    row = rows_by(md, "Differences and their noise")["Our default", "PyTorch against NumPy"]
    wrong_numpy = N_TEST - round(truth["default", "numpy", 0][1] * N_TEST)
    wrong_torch = N_TEST - round(truth["default", "torch", 0][1] * N_TEST)
    # numpy's errors start at image 0, torch's at 500: no overlap, so each one's errors are the other's wins
    p = sp.binomtest(wrong_torch, wrong_numpy + wrong_torch, 0.5).pvalue
    assert row[3].startswith(f"seed 0: {wrong_torch} vs {wrong_numpy}, p {p:.2f}")
    assert row[3].endswith("(p < 0.05 on 5 of 5 seeds)")


def test_the_published_number_is_placed_among_the_rerun_seeds(seeded):
    md, truth = seeded
    vals = [truth["tutorial", "numpy", s][0] for s in SEEDS]
    spread = sp.t.ppf(0.975, 4) * np.std(vals, ddof=1) * np.sqrt(1.2)
    assert (f"NumPy: the tutorial's published validation accuracy 90.65 % † lies outside the 95 % range of one more "
            f"seed of its setup rerun here ({(np.mean(vals) - spread) * 100:.2f} to {(np.mean(vals) + spread) * 100:.2f}"
            " %, from 5 seeds") in md
