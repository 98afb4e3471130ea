"""A search checked before any trial: the settings, the space (``hydra.sweeper.params`` and any range
given on the command line), the study's storage and the epochs a trial trains.

``search_plan`` raises ``ConfigError`` with one line naming the bad setting and the fix; it creates
nothing (no storage, no study, no MLflow run), so the sweep callback calls it before anything starts.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf
from optuna.distributions import BaseDistribution, CategoricalDistribution

from mlpbench.config import ConfigError
from mlpbench.search.settings import SearchSettings, check_fit, settings_from
from mlpbench.search.space import describe, parse_space, trial_overrides
from mlpbench.search.study import storage_spec

TARGET = "hydra_plugins.mlpbench_optuna_sweeper.sweeper.OptunaSweeper"
_ABSENT = object()


@dataclass(frozen=True)
class SearchPlan:
    settings: SearchSettings
    space: Mapping[str, BaseDistribution]
    fixed: Mapping[str, str]  # keys every trial sets to the same value
    arguments: Sequence[str]  # the command line's other overrides, given to every trial
    storage: str  # storage_spec's answer: a journal file's absolute path or a URL
    epochs: tuple[int, int]  # the fewest and the most epochs a trial trains

    def overrides(self, params: Mapping[str, Any]) -> list[str]:
        """A trial's job overrides: the command line's, then the fixed and the sampled values."""
        return [*self.arguments, *trial_overrides(params, self.fixed)]

    def sample(self) -> dict[str, Any]:
        """One point of the space (each key's first choice or low end), to check a trial's config early."""
        return {k: d.choices[0] if isinstance(d, CategoricalDistribution) else d.low for k, d in self.space.items()}

    def described(self) -> dict[str, str]:
        return describe(self.space)


def is_search(config: DictConfig) -> bool:
    return OmegaConf.select(config, "hydra.sweeper._target_") == TARGET


def search_plan(config: DictConfig, root: Path, arguments: Sequence[str] | None = None) -> SearchPlan:
    """The plan of the search ``config`` (a multirun's whole config) asks for; ``arguments``: its task
    overrides (default: ``hydra.overrides.task``)."""
    node = OmegaConf.to_container(config.hydra.sweeper, resolve=True)
    settings = settings_from(node)
    arguments = list(config.hydra.overrides.task if arguments is None else arguments)
    parsed = OverridesParser.create().parse_overrides(arguments)
    ranges = {o.get_key_element(): o.input_line.split("=", 1)[1] for o in parsed if o.is_sweep_override()}
    space, fixed = parse_space({**settings.params, **ranges})
    for key in [*space, *fixed]:
        if OmegaConf.select(config, key.lstrip("+"), default=_ABSENT) is _ABSENT:
            raise ConfigError(f"hydra.sweeper.params.{key}: not a key of the config; check its spelling "
                              "(e.g. optim.lr, train.batch_size, model.hidden_sizes)")
    epochs = _epochs(space, fixed, int(config.train.epochs))
    check_fit(settings, space, epochs[0])
    rest = [o.input_line for o in parsed if not o.is_sweep_override()]
    return SearchPlan(settings, space, fixed, rest, storage_spec(settings.storage, settings.study_name, root), epochs)


def _epochs(space: Mapping[str, BaseDistribution], fixed: Mapping[str, str], default: int) -> tuple[int, int]:
    d = space.get("train.epochs")
    if d is None:
        n = int(fixed.get("train.epochs", default))
        return n, n
    values = [int(v) for v in d.choices] if isinstance(d, CategoricalDistribution) else [int(d.low), int(d.high)]
    return min(values), max(values)
