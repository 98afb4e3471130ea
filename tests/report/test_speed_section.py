"""The report's "Why the speeds differ" section from hand-made runs (no MLflow)."""
from __future__ import annotations

import pandas as pd

from mlpbench.report import speed, tables

NUMPY = {"backend": "numpy", "time/step_median_s": 0.0125, "gemm/floor_step_s": 0.0097, "gemm/gflops": 190.0,
         "gemm/share": 0.776, "time/overhead_step_s": 0.0028, "tags.backend_blas": "openblas 0.3.31 (2 threads)"}
TORCH = {"backend": "torch", "time/step_median_s": 0.0222, "gemm/floor_step_s": 0.0150, "gemm/gflops": 123.0,
         "gemm/share": 0.676, "time/overhead_step_s": 0.0072, "tags.backend_blas": "mkl 2024.2 (2 threads)"}


def runs(*rows: dict, preset: str = "default") -> pd.DataFrame:
    return pd.DataFrame([{"experiment_id": "1", "status": "FINISHED", "preset": preset, "run_id": f"{i:032x}",
                          "name": f"run {i}", **r} for i, r in enumerate(rows)])


def test_each_backend_s_step_is_split_into_gemms_and_the_rest_with_its_blas():
    [section] = speed.section(tables.rows(runs(TORCH, NUMPY), "mnist"))
    assert list(section.table["backend"]) == ["numpy", "torch"]  # registry order
    assert list(section.table["BLAS"]) == ["openblas 0.3.31 (2 threads)", "mkl 2024.2 (2 threads)"]
    assert list(section.table["GEMM GFLOP/s"]) == ["190.0", "123.0"]
    numpy, torch, gap, pointer = section.bullets
    assert numpy.startswith("NumPy: a training step takes 12.5 ms (median); 9.7 ms of it (78 %)")
    assert "`openblas 0.3.31 (2 threads)` runs at 190.0 GFLOP/s" in numpy and "other 2.8 ms" in numpy
    assert "`mkl 2024.2 (2 threads)` runs at 123.0 GFLOP/s" in torch
    assert gap == ("In this probe, PyTorch's step takes 9.7 ms longer than NumPy's: 5.3 ms of the difference lies in "
                   "the GEMMs (NumPy's BLAS runs them 1.54× as fast as PyTorch's) and 4.4 ms in the rest of the step.")
    assert "`dvc repro scaling`" in pointer and "reports/scaling/" in pointer


def test_no_section_without_default_runs_that_recorded_their_timings():
    assert speed.section(tables.rows(runs(NUMPY, TORCH, preset="tutorial"), "mnist")) == []
    old = {k: v for k, v in NUMPY.items() if not k.startswith(("gemm/", "time/"))}
    assert speed.section(tables.rows(runs(old), "mnist")) == []
