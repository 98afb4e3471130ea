"""Timing the study's points: each backend in its own worker process, in alternating rounds."""
from __future__ import annotations

import dataclasses
import multiprocessing
from pathlib import Path

import pytest

from mlpbench.config.load import load
from mlpbench.compose import compose
from mlpbench.options import BACKENDS
from mlpbench.scaling.grid import points
from mlpbench.scaling.measure import measure

ROOT = Path(__file__).resolve().parents[2]
TINY = ["model.hidden_sizes=[16,8]", "train.batch_size=8", "scaling.grids.quick.widths=[16,32]",
        "scaling.grids.quick.batch_sizes=[8]", "scaling.grids.quick.depths=[2]",
        "scaling.grids.quick.dtypes=[float32,float64]", "scaling.grids.quick.repeats=3",
        "scaling.grids.quick.min_time_s=0"]


def tiny():
    cfg = load(compose(ROOT, TINY))
    grid = cfg.scaling.grids["quick"]
    return cfg, grid, points(grid, cfg.model.hidden_sizes, cfg.train.batch_size)


def test_each_backend_times_every_point_in_its_own_process_in_alternating_rounds():
    cfg, grid, found = tiny()
    rounds = []
    frame, info = measure(cfg, found, grid, lambda r, n, backend: rounds.append((r, n, backend)))
    names = list(cfg.backends)
    assert names == list(BACKENDS)  # the study times every registered backend
    assert rounds == [(r, 3, b) for r in range(3) for b in (names if r % 2 == 0 else names[::-1])]
    assert len(frame) == len(names) * len(found) == len(names) * 4 and (frame["repeats"] == 3).all()
    assert set(zip(frame["backend"], frame["dtype"])) == {(b, d) for b in names for d in ("float32", "float64")}
    assert (frame["step_s"] > 0).all() and (frame["floor_s"] > 0).all()
    assert {info[b]["dtype"] for b in names} == {"float32"}  # the config's dtype
    assert not multiprocessing.active_children()  # the workers are gone


def test_a_worker_that_fails_stops_the_study_naming_its_backend_and_leaves_no_process():
    cfg, grid, found = tiny()
    broken = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, activation="no-such-activation"))
    with pytest.raises(RuntimeError, match="the scaling study's numpy worker failed: .*UnknownNameError: "
                                           "unknown activation 'no-such-activation'"):
        measure(broken, found, grid)
    assert not multiprocessing.active_children()
