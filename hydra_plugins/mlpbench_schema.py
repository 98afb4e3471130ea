"""Registers mlpbench's config schema in Hydra's ConfigStore when Hydra scans for plugins.

DVC composes ``conf/`` itself for ``dvc exp run -S`` and looks for ``hydra_plugins`` in the
repository root (its ``hydra.plugins_path``), so ``conf/config.yaml``'s ``schema`` default resolves
there too, and a bad ``-S`` value fails before any stage runs.
"""
from mlpbench.config.store import register_configs

register_configs()
