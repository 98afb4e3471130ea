"""The scaling study's grid, win table and figures, from the real conf/ and made-up rows (no timing)."""
from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from scipy import stats as sp

from mlpbench.compose import compose
from mlpbench.config import ConfigError
from mlpbench.config.load import load
from mlpbench.environment import cpu_model
from mlpbench.scaling.grid import Point, deepened, points, widened
from mlpbench.scaling import results
from mlpbench.scaling.report import Provenance, markdown, rebuild
from mlpbench.scaling.results import CEILING, figures, on_axis, win_table, winner
from mlpbench.scaling.study import record

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["quick", "full"])
def test_the_grid_is_what_the_config_says(name):
    cfg = load(compose(ROOT, [f"scaling.grid={name}"]))
    grid = cfg.scaling.grids[cfg.scaling.grid]
    hidden, batch = cfg.model.hidden_sizes, cfg.train.batch_size
    found = points(grid, hidden, batch)
    for dtype in grid.dtypes:
        mine = [p for p in found if p.dtype == dtype]
        assert sorted(p.width for p in mine if "width" in p.axes) == sorted(grid.widths)
        assert sorted(p.batch_size for p in mine if "batch_size" in p.axes) == sorted(grid.batch_sizes)
        assert sorted(p.depth for p in mine if "depth" in p.axes) == sorted(grid.depths)
        # one axis at a time: the others stay at the default point
        assert all(p.batch_size == batch for p in mine if "batch_size" not in p.axes)
        assert all(p.hidden_sizes == tuple(hidden) for p in mine if "batch_size" in p.axes)
        centre = [p for p in mine if p.hidden_sizes == tuple(hidden) and p.batch_size == batch]
        assert len(centre) == 1 and set(centre[0].axes) == {"width", "batch_size", "depth"}
    assert {p.dtype for p in found} == set(grid.dtypes)
    assert len({(p.hidden_sizes, p.batch_size, p.dtype) for p in found}) == len(found)


def test_width_keeps_the_layers_ratio_and_depth_repeats_the_last_layer():
    assert widened((512, 256), 64) == (64, 32) and widened((512, 256), 4096) == (4096, 2048)
    assert [deepened((512, 256), d) for d in (1, 2, 3, 4)] == [(512,), (512, 256), (512, 256, 256),
                                                                (512, 256, 256, 256)]


@pytest.mark.parametrize("override, key", [("scaling.grid=huge", "scaling.grid='huge' is not a grid"),
                                           ("scaling.grids.quick.dtypes=[float16]", "scaling.grids.quick.dtypes[]"),
                                           ("scaling.grids.quick.widths=[0]", "scaling.grids.quick.widths")])
def test_a_bad_scaling_setting_is_one_line_naming_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load(compose(ROOT, [override]))
    assert key in str(err.value) and "\n" not in str(err.value)


def row(backend: str, hidden: str, batch: int, step: float, spread: float = 0.1, axes: str = "width",
        dtype: str = "float32") -> dict:
    floor = 0.6 * step
    return {"backend": backend, "dtype": dtype, "hidden_sizes": hidden, "width": int(hidden.split("-")[0]),
            "depth": hidden.count("-") + 1, "batch_size": batch, "axes": axes, "gemm_gflop": 1.0,
            "step_s": step, "step_s_min": step * (1 - spread), "step_s_max": step * (1 + spread),
            "floor_s": floor, "floor_s_min": floor, "floor_s_max": floor, "overhead_s": step - floor,
            "gemm_share": 0.6, "samples_per_s": batch / step, "floor_samples_per_s": batch / floor,
            "gemm_gflops": 1.0 / floor}


FRAME = pd.DataFrame([
    row("numpy", "64-32", 768, 0.004), row("torch", "64-32", 768, 0.010),          # NumPy 2.5x
    row("numpy", "512-256", 768, 0.012, axes="width batch_size depth"),
    row("torch", "512-256", 768, 0.022, axes="width batch_size depth"),            # NumPy 1.83x
    row("numpy", "2048-1024", 768, 0.30, spread=0.3), row("torch", "2048-1024", 768, 0.25),  # torch, overlap
    row("numpy", "512-256", 16, 0.002, axes="batch_size"), row("torch", "512-256", 16, 0.001, spread=0.0,
                                                                 axes="batch_size"),  # torch 2x
])


def test_the_win_table_names_the_faster_backend_and_by_how_much():
    table = win_table(FRAME)
    width = table[table["axis"] == "width of the first hidden layer"].set_index("hidden")
    assert list(width.index) == ["64-32", "512-256", "2048-1024"]  # sorted along the axis
    assert (width.loc["64-32", "faster"], width.loc["64-32", "by"]) == ("NumPy", "2.50×")
    assert (width.loc["512-256", "faster"], width.loc["512-256", "by"]) == ("NumPy", "1.83×")
    assert (width.loc["2048-1024", "faster"], width.loc["2048-1024", "by"]) == ("PyTorch (spreads overlap)", "1.20×")
    assert width.loc["512-256", "NumPy step ms [min–max]"] == "12.00 [10.80–13.20]"
    assert width.loc["512-256", "PyTorch GEMM floor ms"] == "13.20" and width.loc["512-256", "PyTorch rest ms"] == "8.80"
    batch = table[table["axis"] == "batch size"].set_index("batch")
    assert list(batch.index) == ["16", "768"]  # the default point lies on this axis too
    assert (batch.loc["16", "faster"], batch.loc["16", "by"]) == ("PyTorch", "2.00×")
    assert table[table["axis"] == "hidden layers"]["hidden"].tolist() == ["512-256"]


def test_each_other_backend_gets_its_step_ratio_with_the_interval_over_the_rounds():
    ratios = FRAME.assign(step_ratio=[1.0, 2.5, 1.0, 1.83, 1.0, 0.83, 1.0, 0.5],
                          step_ratio_ci95_low=[1.0, 2.4, 1.0, 1.70, 1.0, 0.70, 1.0, 0.45],
                          step_ratio_ci95_high=[1.0, 2.6, 1.0, 1.97, 1.0, 1.05, 1.0, 0.55])
    table = win_table(ratios).set_index(["axis", "hidden", "batch"])
    column = "PyTorch ÷ NumPy step [95 % CI]"
    assert table.loc[("width of the first hidden layer", "512-256", "768"), column] == "1.83× [1.70, 1.97]"
    assert table.loc[("width of the first hidden layer", "2048-1024", "768"), column] == "0.83× [0.70, 1.05]"
    assert "NumPy ÷ NumPy step [95 % CI]" not in table  # the first backend is the reference
    assert column not in win_table(FRAME)  # rows without the ratios (an older study's CSV): no column


def test_measured_rows_pair_the_rounds():
    from mlpbench.scaling.measure import summary_row

    point = Point((512, 256), 768, "float32", ("width",))
    first, other = [0.010, 0.012, 0.011], [0.020, 0.025, 0.021]
    row = summary_row(point, "torch", (784, 512, 256, 10), other, other, first)
    logs = np.log(np.divide(other, first))
    low, high = np.exp(sp.t.interval(0.95, 2, loc=logs.mean(), scale=sp.sem(logs)))
    assert (row["step_ratio"], row["step_ratio_ci95_low"], row["step_ratio_ci95_high"]) == pytest.approx(
        (np.exp(logs.mean()), low, high))


def test_the_winner_is_the_lowest_median_step():
    point = FRAME[FRAME["hidden_sizes"] == "2048-1024"]
    best, by, overlap = winner(point)
    assert best == "torch" and by == pytest.approx(1.2) and overlap
    assert len(on_axis(FRAME, "depth")) == 2


def test_the_figures_are_written(tmp_path):
    frame = pd.concat([FRAME, FRAME.assign(dtype="float64")], ignore_index=True)
    paths = figures(frame, tmp_path / "figures")
    assert [p.name for p in paths] == ["samples_per_s_width.png", "samples_per_s_batch_size.png",
                                       "samples_per_s_depth.png"]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


ABOUT = Provenance({"cpu": "Test CPU 9000", "cpu_count": "6", "blas_numpy": "openblas 0.3 (Haswell, 3 threads)",
                     "blas_torch": "mkl 2024", "threads_torch": "3", "git_commit": "0123abcd"},
                    {"grid": "quick", "hidden_sizes": "512-256", "batch_size": "768", "dtype": "float32"},
                    datetime(2026, 3, 4, 5, 6, tzinfo=timezone.utc))
RATIOS = FRAME.assign(step_ratio=[1.0, 2.5, 1.0, 1.83, 1.0, 0.83, 1.0, 0.5],
                      step_ratio_ci95_low=[1.0, 2.4, 1.0, 1.70, 1.0, 0.70, 1.0, 0.45],
                      step_ratio_ci95_high=[1.0, 2.6, 1.0, 1.97, 1.0, 1.05, 1.0, 0.55])


def test_the_markdown_names_the_data_set():
    text = markdown(FRAME, [], Path("."), "Digits", ABOUT)
    assert text.startswith("# Scaling study on Digits (quick grid)\n")


def test_the_page_opens_with_the_machine_the_date_and_a_summary():
    text = markdown(RATIOS, [], Path("."), "MNIST", ABOUT)
    head = text.split("\n## Where each backend is faster", 1)[0]
    assert ("Measured on 2026-03-04 05:06 UTC on Test CPU 9000 (6 CPU cores), code at git commit `0123abcd`. "
            "BLAS and threads: NumPy: openblas 0.3 (Haswell, 3 threads); PyTorch: mkl 2024, 3 threads.") in head
    # 4 distinct points: the default point lies on the width and the batch axes but counts once
    assert "- Lower median training step, of 4 points: NumPy at 2; PyTorch at 2 (1 of them with overlapping " in head
    assert "at the default point (hidden 512-256, batch 768, float32) 1.83× [1.70, 1.97], and from 0.50× to 2.50×" in head


def test_each_table_puts_the_verdict_next_to_the_point():
    text = markdown(RATIOS, [], Path("."), "MNIST", ABOUT)
    assert "### float32, width of the first hidden layer (batch 768)" in text
    assert "### float32, batch size (hidden 512-256)" in text
    headers = [line for line in text.splitlines() if line.startswith("| ") and "faster" in line]
    assert len(headers) == 3  # one table per axis
    for header in headers:
        assert [c.strip() for c in header.split("|")[2:5]] == ["faster", "by", "PyTorch ÷ NumPy step [95 % CI]"]


def test_a_negative_rest_is_shown_as_disturbed_not_as_a_number():
    disturbed = FRAME.copy()
    disturbed.loc[1, "overhead_s"] = -0.002  # torch at 64-32: its step's median fell below its floor's
    table = win_table(disturbed).set_index("hidden")
    assert table.loc["64-32", "PyTorch rest ms"] == "—" and table.loc["64-32", "NumPy rest ms"] == "1.60"
    text = markdown(disturbed, [], Path("."), "MNIST", ABOUT)
    assert "-2.00" not in text and "1 point was disturbed while measured" in text
    assert "disturbed while measured" not in markdown(FRAME, [], Path("."), "MNIST", ABOUT)


def test_the_dashed_lines_are_labelled_ceilings(tmp_path, monkeypatch):
    seen, save = [], results._save
    monkeypatch.setattr(results, "_save", lambda fig, path: (seen.append(fig), save(fig, path))[1])
    figures(FRAME, tmp_path, axes=("width",))
    labels = [line.get_label() for ax in seen[0].axes for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert labels == [f"NumPy {CEILING}", f"PyTorch {CEILING}"]
    assert CEILING in markdown(FRAME, [], Path("."), "MNIST", ABOUT)


def test_the_page_is_rebuilt_from_the_committed_csv_and_run_export(tmp_path):
    export = next((ROOT / "runs" / "scaling").glob("*.json"))
    shutil.copy(ROOT / "reports" / "scaling" / "scaling.csv", tmp_path / "scaling.csv")
    md, *pngs = rebuild(tmp_path, export)
    run = json.loads(export.read_text())
    text = md.read_text()
    assert text.startswith(f"# Scaling study on {run['tags']['dataset_title']} ({run['params']['grid']} grid)\n")
    assert run["tags"]["cpu"] in text and run["tags"]["blas_numpy"] in text
    day = datetime.fromtimestamp(run["start_time"] / 1000, timezone.utc).strftime("%Y-%m-%d")
    assert f"Measured on {day}" in text and len(pngs) == 3


def test_the_studys_run_records_the_data_set_its_input_width_and_classes(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = load(compose(ROOT, [f"tracking.uri={uri}", "data.name=digits", "data.title=Digits",
                              "data.image_shape=[8,8]", "data.num_classes=3", "scaling.experiment=scaling-test"]))
    run = MlflowClient(uri).get_run(record(cfg, tmp_path, FRAME, {}, []))
    assert {k: run.data.tags[k] for k in ("dataset", "dataset_title")} == {"dataset": "digits", "dataset_title": "Digits"}
    assert (run.data.params["input_width"], run.data.params["num_classes"]) == ("64", "3")
    assert (run.data.tags["cpu_count"], run.data.tags["cpu"]) == (str(os.cpu_count()), cpu_model())


def test_the_studys_run_starts_when_its_timings_began(tmp_path):
    import time

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = load(compose(ROOT, [f"tracking.uri={uri}", "scaling.experiment=scaling-test"]))
    began = int(time.time() * 1000) - 90_000  # the timings took a minute and a half
    info = MlflowClient(uri).get_run(record(cfg, tmp_path, FRAME, {}, [], start_ms=began)).info
    assert info.start_time == began and info.end_time - info.start_time >= 90_000
