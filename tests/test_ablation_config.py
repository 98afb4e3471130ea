"""The ablation path (conf/experiment/ablation/): the tutorial's setup first, our default last, and
each step differing from the one before in exactly the settings its file names."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from mlpbench.compose import compose
from mlpbench.report.ablation import step_of

ROOT = Path(__file__).resolve().parents[1]
STEPS = sorted((ROOT / "conf" / "experiment" / "ablation").glob("*.yaml"))
NAMES = ("preset",)  # what every step sets besides its change: its name
# The one change of each step, as the settings it names; two keys only where they are one change.
CHANGES = {"init": {"model.init"}, "width": {"model.hidden_sizes"}, "depth": {"model.hidden_sizes"},
           "momentum": {"optim.momentum", "optim.nesterov"}, "batch": {"optim.lr", "train.batch_size"},
           "schedule": {"schedule"}, "dropout": {"model.dropout"}, "epochs": {"train.epochs"}}


def leaves(values: dict, prefix: str = "") -> dict[str, object]:
    """``{"model.init": "auto", ...}``: every leaf of a nested dict by its dotted key."""
    out = {}
    for key, value in values.items():
        path = f"{prefix}{key}"
        out |= leaves(value, path + ".") if isinstance(value, dict) else {path: value}
    return out


@lru_cache(maxsize=None)
def _composed(overrides: tuple[str, ...]) -> dict:
    return compose(ROOT, list(overrides))


def composed(step: Path | None) -> dict[str, object]:
    """A step's composed config (our default for None), as leaves, names aside."""
    values = leaves(_composed((f"experiment=ablation/{step.stem}",) if step else ()))
    return {k: v for k, v in values.items() if k not in NAMES}


def named(step: Path) -> set[str]:
    """The settings a step's file names: its own keys, and the groups its defaults override."""
    body = yaml.safe_load(step.read_text())
    keys = {k for k in leaves({k: v for k, v in body.items() if k not in ("defaults", *NAMES)})}
    for entry in body.get("defaults", []):
        if isinstance(entry, dict):
            keys |= {k.removeprefix("override /") for k in entry if k.startswith("override /")}
    return keys


def test_the_steps_are_numbered_in_order_and_each_takes_the_one_before():
    assert len(STEPS) >= 2
    assert [step_of(f"ablation_{p.stem}")[0] for p in STEPS] == list(range(len(STEPS)))
    for prev, step in zip(STEPS, STEPS[1:]):
        assert f"/experiment/ablation/{prev.stem}" in yaml.safe_load(step.read_text())["defaults"]
    assert "/experiment/tutorial" in yaml.safe_load(STEPS[0].read_text())["defaults"]


def test_each_step_is_named_by_its_preset():
    for step in STEPS:
        assert _composed((f"experiment=ablation/{step.stem}",))["preset"] == f"ablation_{step.stem}"


def test_the_first_step_is_the_tutorial_setup_and_the_last_our_default():
    tutorial = {k: v for k, v in leaves(_composed(("experiment=tutorial",))).items() if k not in NAMES}
    assert composed(STEPS[0]) == tutorial
    assert composed(STEPS[-1]) == composed(None)


@pytest.mark.parametrize("index", range(1, len(STEPS)), ids=[p.stem for p in STEPS[1:]])
def test_each_step_changes_exactly_the_settings_it_names(index):
    before, after = composed(STEPS[index - 1]), composed(STEPS[index])
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    names = named(STEPS[index])
    assert names == CHANGES[step_of(f"ablation_{STEPS[index].stem}")[1]], f"{STEPS[index].name} is not one change"
    assert changed, f"{STEPS[index].name} changes nothing"
    assert all(any(k == n or k.startswith(n + ".") for n in names) for k in changed), \
        f"{STEPS[index].name} changes {sorted(changed)}, but names only {sorted(names)}"
    assert all(any(k == n or k.startswith(n + ".") for k in changed) for n in names), \
        f"{STEPS[index].name} names {sorted(names)}, but changes only {sorted(changed)}"
