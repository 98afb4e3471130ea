"""Registering the schema in Hydra's ConfigStore, so that composing ``conf/`` checks every key."""
from __future__ import annotations

from hydra.core.config_store import ConfigStore

from mlpbench.config.schema import OPTIMIZERS, SCHEDULES, Config
from mlpbench.options import BACKENDS


def register_configs() -> None:
    """Put the schema into Hydra's ConfigStore (idempotent).

    ``conf/config.yaml`` lists ``schema`` first in its defaults, and each ``conf/optim/*.yaml`` and
    ``conf/schedule/*.yaml`` its option's ``schema_<name>``. The top-level node's ``backends`` is
    every registered backend. Called by ``pipelines/train.py``, ``mlpbench.compose`` and, for DVC's
    own composition (``dvc exp run -S``), by ``hydra_plugins/mlpbench_schema.py``.
    """
    store = ConfigStore.instance()
    store.store(name="schema", node=Config(backends=list(BACKENDS)))
    for group, registry in (("optim", OPTIMIZERS), ("schedule", SCHEDULES)):
        for name, cls in registry.items():
            store.store(group=group, name=f"schema_{name}", node=cls)
