"""The torch options section's sentences from hand-made rows (its table from real runs: see
tests/integration/test_torch_options_stage.py)."""
from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from mlpbench.options import BACKENDS
from mlpbench.report import ReportError
from mlpbench.report.torch_options import busy, other_backends, read_study, sentence, verdict

BASE = pd.Series({"final/val_acc": 0.9717})


def row(label: str, steady: float, val_acc: float, compiled: bool = False) -> pd.Series:
    return pd.Series({"tags.variant_label": label, "tags.backend_device": "cpu", "time/epoch_steady_s": steady,
                      "base_s": 1.10, "time/step_interleaved_s": steady / 50, "base_step_s": 0.0222,
                      "time/step_interleaved_min_s": steady / 52, "time/step_interleaved_max_s": steady / 48,
                      "base_step_min_s": 0.0215, "base_step_max_s": 0.0230,
                      "final/val_acc": val_acc, "time/first_epoch_extra_s": 21.5,
                      "params.torch.compile": str(compiled)})


def test_a_variant_helps_hurts_or_makes_no_clear_difference():
    assert verdict(0.70) == "helped" and verdict(1.60) == "hurt"
    assert verdict(0.96) == verdict(1.04) == "made no clear difference (within 5 %)"
    assert verdict(0.70, overlapping=True) == "helped (though its step timings' spread overlaps eager float32's)"
    assert verdict(1.03, overlapping=True) == "made no clear difference (within 5 %)"


def test_overlapping_step_spreads_are_said_with_the_verdict():
    spread = row("fused optimizer", 0.77, 0.9717).copy()
    spread["time/step_interleaved_max_s"] = 0.0216  # reaches into eager float32's 21.5-23.0 ms
    assert sentence(spread, BASE).startswith("fused optimizer on cpu helped (though its step timings' spread "
                                             "overlaps eager float32's): a training step took 15.4 ms")


def test_the_sentences_give_both_times_the_ratio_the_accuracy_and_compile_s_one_off_cost():
    assert sentence(row("bf16 autocast", 0.77, 0.9707), BASE) == (
        "bf16 autocast on cpu helped: a training step took 15.4 ms against 22.2 ms for eager float32 (0.69×, "
        "timed in turn), a steady epoch 0.77 s against 1.10 s (0.70×); validation accuracy 97.07 % against "
        "97.17 % (-0.10 points).")
    compiled = sentence(row("torch.compile", 1.65, 0.9717, compiled=True), BASE)
    assert "torch.compile on cpu hurt" in compiled and "(1.49×, timed in turn)" in compiled
    assert "(1.50×)" in compiled
    assert compiled.endswith("Its first epoch took 21.5 s longer than a steady one: compilation.")


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
