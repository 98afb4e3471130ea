"""Registering the schema in Hydra's ConfigStore, so that composing ``conf/`` checks every key."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import List

from hydra.core.config_store import ConfigStore

from mlpbench.backends import BACKENDS
from mlpbench.config.schema import OPTIMIZERS, SCHEDULES, Config

# The backend names as an enum, so that composing (also DVC's own, for `dvc exp run -S`) rejects any
# other value of ``backends``: dvc.yaml's train and tutorial matrices put these names into stage
# commands, which DVC runs through a shell before any script could check them.
BackendName = enum.Enum("BackendName", {name: name for name in BACKENDS})


@dataclass
class ComposedConfig(Config):
    """``Config`` as Hydra composes it: ``backends`` limited to the registered names."""

    backends: List[BackendName] = field(default_factory=lambda: list(BackendName))


def register_configs() -> None:
    """Put the schema into Hydra's ConfigStore (idempotent).

    ``conf/config.yaml`` lists ``schema`` first in its defaults, and each ``conf/optim/*.yaml`` and
    ``conf/schedule/*.yaml`` its option's ``schema_<name>``. The top-level node's ``backends`` is
    every registered backend (an enum here: read a composition with ``OmegaConf.to_container(cfg,
    enum_to_str=True)``). Called by ``pipelines/train.py``, ``mlpbench.compose`` and, for DVC's own
    composition (``dvc exp run -S``), by ``hydra_plugins/mlpbench_schema.py``.
    """
    store = ConfigStore.instance()
    store.store(name="schema", node=ComposedConfig)
    for group, registry in (("optim", OPTIMIZERS), ("schedule", SCHEDULES)):
        for name, cls in registry.items():
            store.store(group=group, name=f"schema_{name}", node=cls)
