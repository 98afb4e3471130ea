"""A search's settings (``hydra.sweeper`` under ``hydra/sweeper=optuna``) as typed values, and the
samplers, pruners and objectives it can name (one registry each: the names live here only)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution

from mlpbench.config import ConfigError


@dataclass(frozen=True)
class Sampler:
    make: Callable[[int | None], optuna.samplers.BaseSampler]
    categorical: bool  # can it sample a choice(...)?


@dataclass(frozen=True)
class Objective:
    metric: str  # the per-epoch metric reported to the pruner (EpochMetrics.as_dict's key)
    summary: str  # the run summary's key whose final value the study records
    direction: str


SAMPLERS: dict[str, Sampler] = {
    "tpe": Sampler(lambda seed: optuna.samplers.TPESampler(seed=seed), categorical=True),
    "random": Sampler(lambda seed: optuna.samplers.RandomSampler(seed=seed), categorical=True),
    # warn_independent_sampling off: a space CMA-ES cannot handle is refused before the study starts
    "cmaes": Sampler(lambda seed: optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False),
                     categorical=False),
}
OBJECTIVES: dict[str, Objective] = {
    "val_acc": Objective("val/acc", "val_acc", "maximize"),
    "val_loss": Objective("val/loss", "val_loss", "minimize"),
}
PRUNERS = ("none", "median", "hyperband")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


@dataclass(frozen=True)
class SearchSettings:
    study_name: str
    storage: str | None  # a journal file (path) or a database URL; None: optuna/<study>.journal in the project
    sampler: str
    pruner: str
    objective: str
    direction: str
    n_trials: int  # finished (COMPLETE or PRUNED) trials the study should hold
    n_jobs: int  # trials per batch given to the launcher at once
    seed: int | None
    max_failures: int  # FAILed trials in one sweep before it gives up
    pruner_startup_trials: int  # median: trials that finish before any is pruned
    pruner_warmup_epochs: int  # median: epochs a trial trains before it can be pruned
    params: Mapping[str, Any]

    @property
    def metric(self) -> str:
        return OBJECTIVES[self.objective].metric


def settings_from(node: Mapping[str, Any]) -> SearchSettings:
    """The ``hydra.sweeper`` node (its ``_target_`` aside) -> ``SearchSettings``; raise ``ConfigError`` on a
    bad name or number."""
    values = {k: v for k, v in node.items() if k != "_target_"}
    known = set(SearchSettings.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"hydra.sweeper.{unknown[0]}: not a setting of the optuna sweeper; the settings are "
                          + ", ".join(sorted(known)))
    values["direction"] = values.get("direction") or OBJECTIVES.get(values.get("objective"), Objective("", "", "")).direction
    s = SearchSettings(**{**values, "params": _flat(values.get("params") or {})})
    for key, value, names in (("sampler", s.sampler, SAMPLERS), ("pruner", s.pruner, PRUNERS),
                              ("objective", s.objective, OBJECTIVES), ("direction", s.direction, ("maximize", "minimize"))):
        if value not in names:
            raise ConfigError(f"hydra.sweeper.{key}={value}: unknown; use one of {', '.join(names)}")
    if not NAME.fullmatch(str(s.study_name)):
        raise ConfigError(f"hydra.sweeper.study_name={s.study_name!r}: use letters, digits, '_', '.' and '-' "
                          "(it names the study and its journal file)")
    for key in ("n_trials", "n_jobs", "max_failures"):
        if getattr(s, key) < 1:
            raise ConfigError(f"hydra.sweeper.{key}={getattr(s, key)}: must be at least 1")
    return s


def _flat(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{optim: {lr: ...}}`` (what ``hydra.sweeper.params.optim.lr=...`` on the command line makes) -> ``{optim.lr: ...}``."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        out |= _flat(value, f"{prefix}{key}.") if isinstance(value, Mapping) else {f"{prefix}{key}": value}
    return out


def check_fit(settings: SearchSettings, space: Mapping[str, BaseDistribution], epochs: int) -> None:
    """Refuse a sampler that cannot sample the space and pruning that has nothing to prune."""
    choices = [k for k, d in space.items() if isinstance(d, CategoricalDistribution)]
    if choices and not SAMPLERS[settings.sampler].categorical:
        raise ConfigError(f"hydra.sweeper.sampler={settings.sampler} cannot sample the choice(...) of "
                          f"{', '.join(choices)}; use sampler=tpe or random, or make them intervals")
    if not space:
        raise ConfigError("hydra.sweeper.params: nothing to search (no choice, range or interval); "
                          "add one, e.g. optim.lr: tag(log, interval(0.001, 0.3))")
    if settings.pruner != "none" and epochs < 2:
        raise ConfigError(f"hydra.sweeper.pruner={settings.pruner} with train.epochs={epochs}: a pruner stops a trial "
                          "between epochs, so a one-epoch trial has nothing to prune; train 2 or more epochs or "
                          "set hydra.sweeper.pruner=none")


def make_pruner(settings: SearchSettings, epochs: int) -> optuna.pruners.BasePruner:
    """The study's pruner; ``epochs``: the most a trial trains (Hyperband's largest budget)."""
    if settings.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=settings.pruner_startup_trials,
                                           n_warmup_steps=settings.pruner_warmup_epochs)
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)
    return optuna.pruners.NopPruner()
