"""conf/ and params.yaml agree, and every option and preset in conf/ composes to what it says.

Composition goes through ``mlpbench.compose.compose``, i.e. DVC's Hydra integration, the same path
``dvc exp run -S`` takes. Presets are chosen with ``experiment=NAME``: the defaults list declares
``optional experiment: null``, so ``+experiment=NAME`` is rejected ("Multiple values for experiment").
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from mlpbench.compose import compose
from mlpbench.config import run_config_from_dict

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
OPTIONS = sorted(p for p in CONF.glob("*/*.yaml") if p.parent.name != "experiment")
EXPERIMENTS = sorted(CONF.glob("experiment/*.yaml"))


def option_id(path: Path) -> str:
    return f"{path.parent.name}={path.stem}"


def leaves(tree: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) for every non-mapping value in ``tree``."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def lookup(tree: dict, dotted: str) -> Any:
    for key in dotted.split("."):
        tree = tree[key]
    return tree


@pytest.fixture(scope="module")
def base() -> dict:
    return compose(ROOT)


def test_conf_has_options_and_presets() -> None:
    # guards the parametrised tests below against silently testing nothing
    assert {p.parent.name for p in OPTIONS} >= {"data", "model", "optim", "schedule", "train", "tracking"}
    assert EXPERIMENTS


def test_params_yaml_is_the_composition_of_conf(base) -> None:
    committed = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert committed == base, "params.yaml is out of date with conf/; regenerate it with `make params`"


def test_default_composition_is_a_valid_run_config(base) -> None:
    run_config_from_dict(base)


@pytest.mark.parametrize("option", OPTIONS, ids=option_id)
def test_every_group_option_composes(option, base) -> None:
    group = option.parent.name
    composed = compose(ROOT, [f"{group}={option.stem}"])
    assert composed[group] == yaml.safe_load(option.read_text())
    assert {k: v for k, v in composed.items() if k != group} == {k: v for k, v in base.items() if k != group}
    run_config_from_dict(composed)


@pytest.mark.parametrize("preset", EXPERIMENTS, ids=lambda p: p.stem)
def test_every_experiment_preset_composes(preset, base) -> None:
    composed = compose(ROOT, [f"experiment={preset.stem}"])
    values = yaml.safe_load(preset.read_text())  # "# @package _global_": keys are top-level
    assert composed != base, f"experiment={preset.stem} changed nothing"
    for key, value in leaves(values):
        assert lookup(composed, key) == value, key
    run_config_from_dict(composed)


def test_unknown_experiment_is_an_error(base) -> None:
    with pytest.raises(Exception, match="experiment/no_such_preset"):
        compose(ROOT, ["experiment=no_such_preset"])
