"""The report's "The step op by op" section from hand-made runs (no MLflow), rendered to Markdown and HTML."""
from __future__ import annotations

import pandas as pd
from PIL import Image

from mlpbench.op_groups import GROUPS, METRIC, STEP_METRIC
from mlpbench.report import attribution, tables
from mlpbench.report.render import write

NUMPY_MS = {"gemm": 10.5, "elementwise_forward": 0.9, "dropout_rng": 0.1, "loss": 0.2, "elementwise_backward": 0.3,
            "optimizer": 0.6, "batch_gather": 0.5, "framework_overhead": 0.4}
TORCH_MS = {"gemm": 11.3, "elementwise_forward": 2.0, "dropout_rng": 4.9, "loss": 0.3, "elementwise_backward": 0.9,
            "optimizer": 0.9, "batch_gather": 0.5, "framework_overhead": 0.6}


def run(backend: str, ms: dict[str, float], step: float, preset: str = "default") -> dict:
    return {"experiment_id": "1", "status": "FINISHED", "preset": preset, "backend": backend, "name": backend,
            STEP_METRIC: step, **{METRIC.format(g): v for g, v in ms.items()}}


def rows(*runs: dict) -> pd.DataFrame:
    frame = pd.DataFrame([{**r, "run_id": f"{i:032x}"} for i, r in enumerate(runs)])
    return tables.rows(frame, "mnist")


def test_the_table_holds_every_group_per_backend_with_the_sum_against_the_plain_step(tmp_path):
    [section] = attribution.section(rows(run("torch", TORCH_MS, 21.9), run("numpy", NUMPY_MS, 13.6)), tmp_path)
    table = section.table
    assert list(table.columns) == ["group", "NumPy (ms)", "PyTorch (ms)", "PyTorch − NumPy (ms)"]
    assert list(table["group"])[:len(GROUPS)] == ["GEMMs", "element-wise forward", "dropout RNG", "loss",
                                                   "backward element-wise", "optimizer", "batch gather",
                                                   "framework overhead"]
    assert list(table["NumPy (ms)"])[-3:] == ["13.50", "13.60", "0.99"]  # sum, plain step, their ratio
    assert list(table["PyTorch (ms)"])[-3:] == ["21.40", "21.90", "0.98"]
    assert table["PyTorch − NumPy (ms)"].iloc[2] == "+4.80"  # dropout RNG


def test_the_sentences_name_the_largest_costs_outside_the_gemms_and_their_share_of_the_gap(tmp_path):
    [section] = attribution.section(rows(run("numpy", NUMPY_MS, 13.6), run("torch", TORCH_MS, 21.9)), tmp_path)
    numpy, torch, gap, tricks = section.bullets
    assert numpy.endswith("element-wise forward 0.90 ms, optimizer 0.60 ms, batch gather 0.50 ms.")
    assert "dropout RNG 4.90 ms, element-wise forward 2.00 ms, backward element-wise 0.90 ms" in torch
    assert gap.startswith("PyTorch's instrumented step takes 7.90 ms longer than NumPy's (8.30 ms between the plain")
    assert "GEMMs account for +0.80 ms" in gap
    assert ("the three groups that differ most: dropout RNG +4.80 ms, 61 % of the gap (PyTorch 4.90, NumPy 0.10); "
            "element-wise forward +1.10 ms, 14 % of the gap") in gap
    assert "two random bits per element" in tricks and "PyTorch tuned" in tricks


def test_the_section_renders_with_its_stacked_bars(tmp_path):
    [section] = attribution.section(rows(run("numpy", NUMPY_MS, 13.6), run("torch", TORCH_MS, 21.9)), tmp_path)
    [figure] = section.figures
    assert Image.open(figure.path).size[0] <= 990
    files = write("report", ["intro"], [section], tmp_path / "out", "comparison")
    text = files.markdown.read_text()
    assert "## The step op by op" in text and "| dropout RNG  " in text
    assert "step_attribution.png" in text and "data:image/png;base64," in files.html.read_text()


def test_no_section_without_default_runs_that_recorded_their_attribution(tmp_path):
    assert attribution.section(rows(run("numpy", NUMPY_MS, 13.6, preset="tutorial")), tmp_path) == []
    bare = {k: v for k, v in run("numpy", NUMPY_MS, 13.6).items() if not k.startswith("attribution/")}
    assert attribution.section(rows(bare), tmp_path) == []
