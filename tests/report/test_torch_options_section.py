"""The torch options section's sentences from hand-made rows (its table from real runs: see
tests/integration/test_torch_options_stage.py)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest

from mlpbench import stats
from mlpbench.options import BACKENDS
from mlpbench.report import ReportError
from mlpbench.report.dataset import DataSet, MixedDatasetsError
from mlpbench.report.torch_options import busy, other_backends, read_study, sentence, study_dataset, verdict

BASE = pd.Series({"val": stats.over_seeds([0.9717]), "time/step_interleaved_s": 0.0222,
                  "time/epoch_steady_s": 1.10})


def row(label: str, steady: float, val_acc: float, ratio: tuple[float, float, float], compiled: bool = False,
        seeds: int = 1) -> pd.Series:
    """A variant's row as ``variant_rows`` makes it: ratio is the step ratio's (mean, low, high)."""
    mean, low, high = ratio
    return pd.Series({"tags.variant_label": label, "tags.backend_device": "cpu", "time/epoch_steady_s": steady,
                      "time/step_interleaved_s": 0.0222 * mean, "time/step_interleaved_ratio": mean,
                      "time/step_interleaved_ratio_ci95_low": low, "time/step_interleaved_ratio_ci95_high": high,
                      "val": stats.over_seeds([val_acc] * seeds), "seeds": seeds,
                      "epoch_ratio": stats.ratio([steady], [1.10]), "time/first_epoch_extra_s": 21.5,
                      "params.torch.compile": str(compiled)})


def test_a_variant_helps_hurts_or_makes_no_clear_difference_by_its_interval():
    def ratio(mean, low, high):
        return stats.Estimate(mean, low, high, 0.0, 7)

    assert verdict(ratio(0.70, 0.66, 0.74)) == "helped" and verdict(ratio(1.60, 1.5, 1.7)) == "hurt"
    assert verdict(ratio(0.97, 0.93, 1.01)) == "made no clear difference"
    assert verdict(ratio(1.02, 0.99, 1.05)) == "made no clear difference"
    assert verdict(None) == "cannot be judged (no interval)"


def test_the_sentences_give_both_times_the_ratio_the_accuracy_and_compile_s_one_off_cost():
    assert sentence(row("bf16 autocast", 0.77, 0.9707, (0.69, 0.66, 0.72)), BASE) == (
        "bf16 autocast on cpu helped: a training step took 15.3 ms against 22.2 ms for eager float32 (1.45× "
        "[1.39, 1.52] faster, timed in turn), a steady epoch 0.77 s against 1.10 s (1.43× faster); validation accuracy 97.07 % "
        "against 97.17 % (-0.10 points, one seed: no interval).")
    compiled = sentence(row("torch.compile", 1.65, 0.9717, (1.49, 1.40, 1.58), compiled=True), BASE)
    assert "torch.compile on cpu hurt" in compiled and "(takes 1.49× [1.40, 1.58] as long, timed in turn)" in compiled
    assert "(takes 1.50× as long)" in compiled
    assert compiled.endswith("Its first epoch took 21.5 s longer than a steady one: compilation.")
    unclear = sentence(row("fused optimizer", 1.08, 0.9717, (0.98, 0.95, 1.02), seeds=3), BASE)
    assert unclear.startswith("fused optimizer on cpu made no clear difference: a training step took")
    assert "(no clear difference: 0.98× [0.95, 1.02] the time, timed in turn)" in unclear
    assert "one seed" not in unclear


def test_a_load_above_the_cores_is_said_before_the_verdicts():
    rows = pd.DataFrame({"machine/load_1min": [1.2, 5.5], "tags.cpu_count": ["2", "2"]})
    assert busy(rows).startswith("The machine was busy while the study ran (1-minute load average up to 5.5 on 2 ")
    assert busy(rows.assign(**{"machine/load_1min": [1.2, 1.9]})) is None
    assert busy(pd.DataFrame({"x": [1]})) is None  # runs without the metric


def test_a_run_file_that_is_not_the_study_s_fails_in_one_line(tmp_path):
    path = tmp_path / "torch_run.json"
    path.write_text(json.dumps({"run_id": "abc"}))
    with pytest.raises(ReportError) as err:
        read_study(path)
    assert "is not the torch options study's run file" in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).endswith("rerun `dvc repro torch_options` (pipelines/torch_options.py)")


def test_one_sentence_covers_every_backend_but_torch():
    assert other_backends() == ("These options are torch's own: NumPy has none of them (a run that sets torch.* with "
                                "another backend is refused), so the table holds torch's runs only.")
    BACKENDS.register("extra_test", dataclasses.replace(BACKENDS["numpy"], short="Extra"))
    try:
        assert other_backends().startswith("These options are torch's own: NumPy and Extra have none of them")
    finally:
        BACKENDS.unregister("extra_test")


def test_the_study_names_its_data_set_and_must_share_the_compared_runs_one():
    runs = pd.DataFrame({"name": ["eager", "bf16"], "tags.dataset": ["digits"] * 2, "tags.dataset_title": ["Digits"] * 2})
    assert study_dataset(runs, Path("run.json"), None) == DataSet("digits", "Digits")
    assert study_dataset(runs, Path("run.json"), DataSet("digits", "Digits")).title == "Digits"
    with pytest.raises(MixedDatasetsError, match=r"^the torch options study run.json trained on digits, the compared "
                                                 r"runs on mnist; rerun `dvc repro torch_options` with the compared"):
        study_dataset(runs, Path("run.json"), DataSet("mnist", "MNIST"))
