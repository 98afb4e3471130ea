"""Registers mlpbench's config schema in Hydra's ConfigStore when Hydra scans for plugins.

DVC composes ``conf/`` itself for ``dvc exp run -S`` and looks for ``hydra_plugins`` in the
repository root (its ``hydra.plugins_path``), so ``conf/config.yaml``'s ``schema`` default resolves
there too, and a bad ``-S`` value fails before any stage runs.

There are two ``hydra_plugins`` folders: this one, where DVC looks, and ``src/hydra_plugins/`` with the
SLURM and local launchers, installed with the package so that a job's process imports them whatever
its working folder.
"""
from mlpbench.config.store import register_configs

register_configs()
