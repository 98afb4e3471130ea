"""A search space from Hydra's override grammar: ``key: choice(...) | range(...) | interval(...)``.

    optim.lr: tag(log, interval(0.001, 0.3))   -> FloatDistribution(0.001, 0.3, log=True)
    model.dropout: interval(0.0, 0.5)           -> FloatDistribution(0.0, 0.5)
    train.epochs: interval(2, 6)                -> IntDistribution(2, 6) (both ends integers)
    train.batch_size: choice(32, 64, 128)       -> CategoricalDistribution((32, 64, 128))
    model.hidden_sizes: choice([64], [128, 64]) -> CategoricalDistribution(("[64]", "[128,64]"))
    optim.momentum: range(0.8, 1.0, 0.05)       -> FloatDistribution(0.8, 0.95, step=0.05) (stop excluded)

A value that is not a sweep (``train.seed: 3``) is fixed for every trial. Each problem raises a
``ConfigError`` naming the key, what it holds and the fix.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, Transformer
from hydra.errors import HydraException
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from mlpbench.config import ConfigError

WHERE = "hydra.sweeper.params"
GRAMMAR = "choice(a, b, ...), range(start, stop[, step]), interval(low, high) or tag(log, interval(low, high))"


def parse_space(params: Mapping[str, Any]) -> tuple[dict[str, BaseDistribution], dict[str, str]]:
    """``{key: override text}`` -> (the distributions of the swept keys, the fixed keys' values as text)."""
    space: dict[str, BaseDistribution] = {}
    fixed: dict[str, str] = {}
    for key, text in params.items():
        line = f"{key}={text}"
        try:
            override = OverridesParser.create().parse_override(line)
        except HydraException as err:
            raise ConfigError(f"{WHERE}.{key}: cannot read {text!r} ({str(err).splitlines()[0]}); write {GRAMMAR}") from None
        if override.is_sweep_override():
            space[key] = _distribution(key, override)
        else:
            fixed[key] = override.get_value_element_as_str()
    return space, fixed


def _distribution(key: str, override: Override) -> BaseDistribution:
    where = f"{WHERE}.{override.input_line}"
    if override.is_choice_sweep() or (override.is_range_sweep() and override.value().shuffle):
        choices = [v if isinstance(v, (str, int, float, bool)) or v is None else Transformer.encode(v)
                   for v in override.sweep_iterator()]
        if not choices:
            raise ConfigError(f"{where}: no values to choose from; list at least one")
        if len(set(map(repr, choices))) != len(choices):
            raise ConfigError(f"{where}: a value is listed twice; list each once")
        return CategoricalDistribution(choices)
    if override.is_range_sweep():
        values, step = list(override.sweep_iterator()), override.value().step
        if not values:
            raise ConfigError(f"{where}: an empty range (stop is excluded, so stop must lie beyond start in the "
                              "direction of step); widen it")
        if step <= 0:
            raise ConfigError(f"{where}: step {step} must be positive; write range(low, high, step)")
        if all(isinstance(v, int) for v in (values[0], values[-1], step)):
            return IntDistribution(values[0], values[-1], step=step)
        low, step = float(values[0]), float(step)
        return FloatDistribution(low, round(low + step * (len(values) - 1), 12), step=step)
    interval = override.value()
    low, high, log = interval.start, interval.end, "log" in interval.tags
    if not low < high:
        raise ConfigError(f"{where}: an empty interval (low {low} is not below high {high}); write interval(low, high)")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log interval needs low > 0, not {low}; raise low or drop tag(log, ...)")
    if _written_as_integers(override.input_line):  # Hydra reads interval(2, 6)'s ends as floats
        return IntDistribution(int(low), int(high), log=log)
    return FloatDistribution(float(low), float(high), log=log)


def _written_as_integers(line: str) -> bool:
    ends = re.search(r"interval\(([^,]*),([^)]*)\)", line.split("=", 1)[1])
    return ends is not None and all(re.fullmatch(r"\s*[+-]?\d+\s*", end) for end in ends.groups())


def trial_overrides(params: Mapping[str, Any], fixed: Mapping[str, str]) -> list[str]:
    """A trial's values (and the fixed ones) as Hydra overrides (``optim.lr=0.0123``)."""
    return [f"{key}={value}" for key, value in {**fixed, **params}.items()]


def describe(space: Mapping[str, BaseDistribution]) -> dict[str, str]:
    """Each key's distribution in words, for the study's MLflow parent run and report."""
    out = {}
    for key, d in space.items():
        if isinstance(d, CategoricalDistribution):
            out[key] = "choice(" + ", ".join(map(str, d.choices)) + ")"
        else:
            kind = "log " if d.log else ""
            out[key] = f"{kind}{type(d.low).__name__} [{d.low}, {d.high}]" + (f" step {d.step}" if d.step else "")
    return out
