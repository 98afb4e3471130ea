"""Checks of a run against this machine and its data (threads, batch size, memory), and its share of the CPUs.

Each raises ``ConfigError`` with one line naming the key, what this machine or data set allows and
what to do. They run in the process that trains (a sweep's job on its own node), after the config
and before any MLflow run exists.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import psutil

from mlpbench import slurm
from mlpbench.config import Config, ConfigError
from mlpbench.data import Dataset

log = logging.getLogger(__name__)

GIB = 2**30
FEW_STEPS = 5  # fewer training steps per epoch than this: a warning (check_batch)
ITEM_BYTES = {"float32": 4, "float64": 8}
# Per hidden or output unit and row of a batch, the arrays a training step keeps: the layer's output,
# its activation (or dropout mask) and the gradient flowing back.
ARRAYS_PER_UNIT = 3


def check_threads(cfg: Config) -> None:
    """``train.threads`` above the CPUs this process may use only slows BLAS and torch down: refused."""
    cpus = slurm.available_cpus()
    if cfg.train.threads > cpus:
        raise ConfigError(f"train.threads={cfg.train.threads} is more than the {cpus} CPUs this process may use; "
                          f"set at most train.threads={cpus}, or 0 for one job's share of them")


def check_batch(cfg: Config, data: Dataset) -> None:
    """A batch larger than the training rows would silently train full-batch under another name: refused.
    A batch that leaves fewer than ``FEW_STEPS`` steps per epoch (a small data set with the default batch)
    is allowed, with a warning that says so."""
    rows = len(data.y_train)
    if cfg.train.batch_size > rows:
        raise ConfigError(f"train.batch_size={cfg.train.batch_size} is more than the {rows} training rows of "
                          f"{cfg.data.name}; set train.batch_size={rows} for full-batch training, or a smaller batch")
    if (steps := math.ceil(rows / cfg.train.batch_size)) < FEW_STEPS:
        log.warning("train.batch_size=%d gives only %d steps per epoch on the %d training rows of %s; a smaller "
                    "batch (e.g. train.batch_size=%d) gives the optimizer more steps", cfg.train.batch_size, steps,
                    rows, cfg.data.name, 2 ** max(0, int(math.log2(max(1, rows / (2 * FEW_STEPS))))))


def run_bytes(cfg: Config, data: Dataset) -> int:
    """A lower bound of the memory a run adds to its loaded data, in bytes.

    The weights and their gradients, the optimizer's state, one layer drawn in float64 at
    initialisation, a training step's arrays at ``train.batch_size``, an evaluation chunk at
    ``train.eval_batch_size``, and the backend's own copy of the data (with a bias column).
    """
    item = ITEM_BYTES[cfg.train.dtype]
    sizes = [data.x_train.shape[1], *cfg.model.hidden_sizes, cfg.data.num_classes]
    layers = [(fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]
    weights = sum(layers) * item * (2 + cfg.optim.state_slots())
    init = max(layers) * 8
    units = sum(sizes[1:])
    step = cfg.train.batch_size * (sizes[0] + 1 + ARRAYS_PER_UNIT * units) * item
    evaluation = min(cfg.train.eval_batch_size, max(len(data.y_val), len(data.y_test))) * 2 * max(sizes) * item
    rows = len(data.y_train) + len(data.y_val) + len(data.y_test)
    return weights + init + step + evaluation + rows * (sizes[0] + 1) * item


def available_bytes() -> int:
    """Memory this process may still take: the system's available memory, or less under a cgroup limit."""
    free = psutil.virtual_memory().available
    for limit_file, usage_file in (("memory.max", "memory.current"),  # cgroup v2, then v1
                                   ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")):
        try:
            limit = Path("/sys/fs/cgroup", limit_file).read_text().strip()
            usage = int(Path("/sys/fs/cgroup", usage_file).read_text())
        except (OSError, ValueError):
            continue
        if limit.isdigit():
            free = min(free, int(limit) - usage)
        break
    return max(free, 0)


def check_memory(cfg: Config, data: Dataset) -> None:
    """Refuse a run whose model, optimizer and batches cannot fit in the memory left (``run_bytes``)."""
    need, have = run_bytes(cfg, data), available_bytes()
    if need > have:
        sizes = list(cfg.model.hidden_sizes)
        smaller = "narrower layers, smaller batches" + (" or float32" if cfg.train.dtype != "float32" else "")
        raise ConfigError(f"model.hidden_sizes={sizes} with optim={cfg.optim.name}, train.batch_size="
                          f"{cfg.train.batch_size} and train.dtype={cfg.train.dtype} needs at least "
                          f"{math.ceil(need / GIB * 10) / 10} GiB of memory, but {have / GIB:.1f} GiB is available; "
                          f"choose {smaller}, or free memory")


def with_threads(cfg: Config, n_jobs: int, cpus: int | None = None) -> Config:
    """Give each of ``n_jobs`` parallel jobs its share of the CPUs unless threads is set.

    cpus: the CPUs each job was given (a submitit launcher's ``cpus_per_task``); else the CPUs this
    process may use (SLURM's allocation inside a job) shared among ``n_jobs``.
    """
    if cfg.train.threads > 0:
        return cfg
    threads = cpus if cpus else max(1, slurm.available_cpus() // max(1, n_jobs))
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, threads=threads))
