"""Small configs, initial weights, data and a training loop for the tests (plain functions, not fixtures).

Deliberately not a conftest.py: other test folders do ``from conftest import ...`` and a second
conftest module here would shadow theirs.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from mlpbench.backends import init_params
from mlpbench.config import ModelConfig, OptimConfig, RunConfig, ScheduleConfig, TrainConfig, validate


def build_config(backend: str = "numpy", **sections: dict[str, Any]) -> RunConfig:
    """A validated RunConfig with the given per-section overrides, e.g. optim={"name": "sgd"}."""
    classes = {"model": ModelConfig, "optim": OptimConfig, "schedule": ScheduleConfig, "train": TrainConfig}
    unknown = set(sections) - set(classes)
    if unknown:
        raise ValueError(f"unknown config sections {unknown}")
    values = {name: cls(**sections.get(name, {})) for name, cls in classes.items()}
    model = dict(sections.get("model", {}))
    if "hidden_sizes" in model:
        values["model"] = ModelConfig(**{**model, "hidden_sizes": tuple(model["hidden_sizes"])})
    return validate(RunConfig(backend=backend, **values))


def make_params(cfg: RunConfig, in_features: int = 784, out_features: int = 10, seed: int = 0):
    """init_params for a config: one (W (fan_in, fan_out), b) pair per Linear layer."""
    rng = np.random.default_rng(seed)
    return init_params(in_features, cfg.model.hidden_sizes, out_features, cfg.model, rng, cfg.train.dtype)


def random_data(n: int, features: int, seed: int = 0, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """x ~ U(0, 1) like scaled pixels, (n, features) float64; y uniform over the classes, (n,)."""
    rng = np.random.default_rng(seed)
    return rng.random((n, features)), rng.integers(0, classes, n)


def run_training(backend, data, n: int, epochs: int, batch_size: int, seed: int = 0):
    """Plain epoch loop with a seeded shuffle: per-step losses, correct counts and lr per epoch."""
    rng = np.random.default_rng(seed)
    losses, corrects, lrs = [], [], [backend.lr]
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            loss, correct = backend.train_step(data, order[start : start + batch_size])
            losses.append(loss)
            corrects.append(correct)
        backend.scheduler_step()
        lrs.append(backend.lr)
    return np.array(losses), corrects, lrs
