"""Hyperparameter search with Optuna (``hydra/sweeper=optuna``, ``conf/hparams_search/``).

space: Hydra's override grammar -> Optuna distributions; settings: the sweeper's settings and the
samplers, pruners and objectives by name; plan: all of it checked before any trial; study: storage,
opening, resume; trial: a trial's job (its epochs reported, pruning); tracked: the study in MLflow.
The sweeper itself is ``hydra_plugins.mlpbench_optuna_sweeper``.
"""
