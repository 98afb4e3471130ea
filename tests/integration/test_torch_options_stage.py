"""The torch_options stage's script on tiny data with a tmp SQLite store, and the report section built
from the MLflow runs it recorded. torch.compile is left to the backend's unit test (its compilation
takes seconds); here eager float32, bf16 autocast and the foreach and fused optimizers run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from mlpbench.report import torch_options as section_module
from mlpbench.report.render import markdown

from support import PROJECT_ROOT, run_checked, tiny_config, write_learnable_data

pytestmark = pytest.mark.slow
SCRIPT = [sys.executable, str(PROJECT_ROOT / "pipelines" / "torch_options.py")]
VARIANTS = "torch_options.variants=[bf16_autocast,foreach,fused,tuned,eager_cuda]"
CUDA = torch.cuda.is_available()


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}


def tiny_params(root: Path, *extra: str) -> Path:
    values = tiny_config(root, [VARIANTS, "torch_options.settings.quick.epochs=2", *extra])
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[Path, str]:
    """The stage run once: (its folder, its output)."""
    root = write_learnable_data(tmp_path_factory.mktemp("torch_options"))
    out = run_checked([*SCRIPT, "--params", str(tiny_params(root)), "--run-file", str(root / "run.json"),
                       "--metrics-dir", str(root / "metrics")], root, _env(), timeout=600)
    return root, out


def test_the_stage_records_one_run_per_variant_with_what_torch_really_ran(study):
    root, out = study
    identity = json.loads((root / "run.json").read_text())
    expected = ["eager", *(["eager_cuda"] if CUDA else []), "bf16_autocast", "foreach", "fused", "tuned"]
    assert list(identity["runs"]) == expected and identity["setting"] == "quick"
    assert identity["skipped"] == ({} if CUDA else {"eager_cuda": "no CUDA device here"})
    assert f"{len(expected)} variants (quick)" in out
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    assert client.get_experiment(identity["experiment_id"]).name == "mlpbench-torch-options"
    runs = {name: client.get_run(run_id) for name, run_id in identity["runs"].items()}
    impl = {"eager": "single_tensor", "bf16_autocast": "single_tensor", "foreach": "foreach", "fused": "fused",
            "tuned": "fused"}
    for name, run in runs.items():
        assert run.info.status == "FINISHED" and run.data.tags["variant"] == name
        assert run.data.params["train.epochs"] == "2" and run.data.params["train.seed"] == "0"
        assert {"time/epoch_steady_s", "time/first_epoch_extra_s", "time/step_interleaved_s", "machine/load_1min",
                "final/val_acc", "test/acc"} <= set(run.data.metrics)
        steps = [run.data.metrics[f"time/step_interleaved{k}_s"] for k in ("_min", "", "_max")]
        assert 0 < steps[0] <= steps[1] <= steps[2]
        # NumPy's step timed in turn with the variants: each variant's step over it, with its interval
        assert run.data.metrics["time/step_interleaved_numpy_s"] > 0
        assert run.data.metrics["time/step_interleaved_over_numpy_ci95_low"] > 0
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val/acc")] == [1, 2]
        # recorded once every variant trained and was timed, the run keeps its training's start and end
        epochs_ms = 1000 * sum(m.value for m in client.get_metric_history(run.info.run_id, "time/epoch_s"))
        recorded = client.get_metric_history(run.info.run_id, "test/acc")[0].timestamp
        assert run.info.start_time + epochs_ms <= run.info.end_time < recorded, (run.info, recorded)
        data = run.data.params["data.name"]
        assert {(d.dataset.name, d.tags[0].value) for d in run.inputs.dataset_inputs} == {
            (f"{data}-train", "training"), (f"{data}-validation", "validation"), (f"{data}-test", "test")}
        if name in impl:
            assert run.data.tags["backend_optimizer_impl"] == impl[name]
    assert runs["bf16_autocast"].data.params["torch.autocast"] == "bfloat16"
    assert runs["bf16_autocast"].data.tags["backend_autocast"] == "bfloat16"
    assert runs["fused"].data.params["torch.optimizer_impl"] == "fused"
    metrics = {path.stem: json.loads(path.read_text()) for path in (root / "metrics").glob("*.json")}
    assert set(metrics) == set(expected)  # one file per variant, with the keys every stage's metrics file has
    assert list(metrics["fused"]) == ["val_acc", "test_acc", "epoch_s"]
    assert metrics["fused"]["epoch_s"] == runs["fused"].data.metrics["time/epoch_steady_s"]


def test_the_report_section_reads_the_runs_back_and_says_the_other_backends_have_none(study):
    root, _ = study
    [section] = section_module.section(f"sqlite:///{root / 'mlflow.db'}", root / "run.json")
    table = section.table
    assert section.text[0].startswith("The torch backend trained on MNIST with each of torch's own optimizations")
    # the options are torch's own: one row per variant, no other backend's rows
    assert [v for v in table["variant (device)"] if v.endswith("(cpu)")] == [
        "eager float32 (cpu)", "bf16 autocast (cpu)", "foreach optimizer (cpu)", "fused optimizer (cpu)",
        "PyTorch tuned (cpu)"]
    assert all(cell != "—" for cell in table["vs NumPy, steps [95 % CI, rounds]"])
    assert list(table["vs eager float32 [95 % CI, seeds]"])[0] == "baseline"
    assert list(table["vs eager, steps [95 % CI, rounds]"])[0] == "baseline"
    for cell in list(table["vs eager, steps [95 % CI, rounds]"])[1:]:  # each variant against eager's rounds
        low, high = map(float, cell.split("[")[1].split("]")[0].split(","))  # e.g. "1.38× [1.32, 1.43] faster"
        assert cell.startswith(("no clear difference", "takes")) or cell.endswith("faster"), cell
        assert 0 < low < high, cell
    assert all(v.endswith(" %") for v in table["val acc"])
    run_ids = json.loads((root / "run.json").read_text())["runs"].values()
    refs = next(n for n in section.notes if n.startswith("MLflow runs (first seed): "))
    assert all(f"`{run_id}`" in refs for run_id in run_ids), refs
    bullets = " ".join(section.bullets)
    for label in ("bf16 autocast on cpu", "foreach optimizer on cpu", "fused optimizer on cpu", "PyTorch tuned on cpu"):
        assert label in bullets
    assert any(word in bullets for word in ("helped", "hurt", "no clear difference"))
    assert "Against NumPy's step (" in bullets
    assert ("eager float32 on cuda did not run: no CUDA device here." in bullets) != CUDA
    text = markdown("t", [], [section], root)
    assert "## Torch's built-in optimizations, measured" in text and "These options are torch's own: NumPy has" in text


def test_a_setting_of_two_seeds_trains_and_pairs_every_variant_on_both(tmp_path):
    root = write_learnable_data(tmp_path)
    params = tiny_params(root, "torch_options.settings.quick.seeds=2")
    values = yaml.safe_load(params.read_text())
    values["torch_options"]["variants"] = ["foreach"]
    params.write_text(yaml.safe_dump(values, sort_keys=False))
    run_checked([*SCRIPT, "--params", str(params), "--run-file", str(root / "run.json"), "--metrics-dir",
                 str(root / "metrics"), "--export-dir", str(root / "runs")], root, _env(), timeout=600)
    identity = json.loads((root / "run.json").read_text())
    assert {name: sorted(per_seed) for name, per_seed in identity["seed_runs"].items()} == {
        "eager": ["0", "1"], "foreach": ["0", "1"]}
    assert len(list((root / "runs").glob("*.json"))) == 4  # every seed's run travels
    [section] = section_module.section(f"sqlite:///{root / 'mlflow.db'}", root / "run.json")
    row = section.table[section.table["variant (device)"] == "foreach optimizer (cpu)"].iloc[0]
    assert row["seeds"] == "2" and " ± " in row["val acc"]  # a mean over the seeds with its interval
    assert "[" in row["vs eager float32 [95 % CI, seeds]"]  # paired by seed with eager's epochs


def test_an_unknown_setting_fails_in_one_line_before_any_training(tmp_path):
    root = write_learnable_data(tmp_path)
    done = subprocess.run([*SCRIPT, "--params", str(tiny_params(root)), "--setting", "huge",
                           "--run-file", str(root / "run.json"), "--metrics-dir", str(root / "m")],
                          cwd=root, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip() == ("torch_options failed: torch_options.setting='huge' is not a setting; choose one "
                                   "of: quick, full (or add it under torch_options.settings)")
    assert not (root / "run.json").exists() and not (root / "mlflow.db").exists()
