"""Registering the schema in Hydra's ConfigStore, so that composing ``conf/`` checks every key."""
from __future__ import annotations

import enum
from dataclasses import field, make_dataclass
from typing import List

from hydra.core.config_store import ConfigStore

from mlpbench.config.schema import OPTIMIZERS, SCHEDULES, Config
from mlpbench.options import BACKENDS


def composed_config() -> type:
    """``Config`` as Hydra composes it: ``backends`` limited to the names registered now.

    The names are an enum, so that composing (also DVC's own, for `dvc exp run -S`) rejects any other
    value of ``backends``: dvc.yaml's train and tutorial matrices put these names into stage commands,
    which DVC runs through a shell before any script could check them. Made at each call, so a backend
    registered after import (a test's own) is composed like the others.
    """
    names = enum.Enum("BackendName", {name: name for name in BACKENDS})
    return make_dataclass("ComposedConfig", [("backends", List[names], field(default_factory=lambda: list(names)))],
                          bases=(Config,))


def register_configs() -> None:
    """Put the schema into Hydra's ConfigStore (idempotent).

    ``conf/config.yaml`` lists ``schema`` first in its defaults, and each ``conf/optim/*.yaml`` and
    ``conf/schedule/*.yaml`` its option's ``schema_<name>``. The top-level node's ``backends`` is
    every registered backend (an enum here: read a composition with ``OmegaConf.to_container(cfg,
    enum_to_str=True)``). Called by ``pipelines/train.py``, ``mlpbench.compose`` and, for DVC's own
    composition (``dvc exp run -S``), by ``hydra_plugins/mlpbench_schema.py``.
    """
    store = ConfigStore.instance()
    store.store(name="schema", node=composed_config())
    for group, registry in (("optim", OPTIMIZERS), ("schedule", SCHEDULES)):
        for name, cls in registry.items():
            store.store(group=group, name=f"schema_{name}", node=cls)
