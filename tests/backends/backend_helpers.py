"""Small configs, initial weights, data and a training loop for the tests (plain functions, not fixtures).

Deliberately not a conftest.py: other test folders do ``from conftest import ...`` and a second
conftest module here would shadow theirs.
"""
from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import numpy as np

from mlpbench import config
from mlpbench.config.load import load
from mlpbench.backends import init_params
from mlpbench.compose import compose

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Config file of each optimizer name ("sgd" names both sgd.yaml and nesterov.yaml: take plain sgd).
OPTION_FILES = {"optim": {"sgd": "sgd"}, "schedule": {}}
# What the backend tests start from unless they say otherwise: a small net without dropout, Adam
# at a constant learning rate (dropout draws differ between the backends; parity needs none), one
# thread (the matrices are tiny, and a thread pool per core slows down badly on a shared machine).
BASE = ("model.hidden_sizes=[256]", "model.dropout=0.0", "optim=adam", "schedule=constant",
        "train.epochs=10", "train.batch_size=128", "train.threads=1")


@functools.cache
def composed(*overrides: str) -> dict:
    """The real conf/ composed with ``overrides``, as a plain dict; cached, so treat it as read-only."""
    return compose(PROJECT_ROOT, list(overrides))


def build_config(backend: str = "numpy", **sections: dict[str, Any]) -> config.Config:
    """The real conf/ with ``BASE`` and per-section changes, typed and validated.

    E.g. ``build_config("torch", optim={"name": "sgd", "lr": 0.1}, model={"hidden_sizes": (16,)})``.
    A ``name`` in optim or schedule selects that option's own config file first (its keys and
    values), then the other keys override them; other sections update the default's keys.
    """
    values = copy.deepcopy(composed(*BASE))
    values["backend"] = backend
    for section, changes in sections.items():
        if section not in values:
            raise ValueError(f"unknown config section {section!r}")
        changes = dict(changes)
        if section in OPTION_FILES and "name" in changes:
            name = changes.pop("name")
            option = OPTION_FILES[section].get(name, name)
            values[section] = copy.deepcopy(composed(f"{section}={option}")[section])
        if "hidden_sizes" in changes:
            changes["hidden_sizes"] = list(changes["hidden_sizes"])
        values[section].update(changes)
    return load(values)


def make_params(cfg: config.Config, in_features: int = 784, out_features: int = 10, seed: int = 0):
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
