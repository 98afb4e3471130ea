"""The ``hydra/sweeper=optuna`` node (``conf/hparams_search/*.yaml`` sets it); see ``mlpbench.search.settings``.

No ``from __future__ import annotations``: Hydra's plugin scan loads this module before it is in
``sys.modules``, where dataclasses look string annotations up.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.mlpbench_optuna_sweeper.sweeper.OptunaSweeper"
    # the study's name: rerunning with the same name and storage resumes it
    study_name: str = "mlpbench"
    # a journal file (a path; relative: to the project root) or a database URL
    # (postgresql+psycopg://user@host/optuna on the cluster); null: optuna/<study_name>.journal
    storage: Optional[str] = None
    sampler: str = "tpe"  # tpe | random | cmaes (intervals and ranges only)
    pruner: str = "median"  # none | median | hyperband
    objective: str = "val_acc"  # val_acc | val_loss: the last epoch's, reported each epoch to the pruner
    direction: Optional[str] = None  # null: the objective's (maximize val_acc, minimize val_loss)
    n_trials: int = 20  # finished trials (COMPLETE or PRUNED) the study should hold
    n_jobs: int = 1  # trials given to the launcher at once
    seed: Optional[int] = 0  # the sampler's seed
    max_failures: int = 5  # FAILed trials in one sweep before it stops
    pruner_startup_trials: int = 2  # median: finished trials before any trial is pruned
    pruner_warmup_epochs: int = 1  # median: epochs every trial trains before it can be pruned
    # the search space: key -> choice(...) | range(...) | interval(...) | tag(log, interval(...)) | a fixed value
    params: Dict[str, Any] = field(default_factory=dict)


ConfigStore.instance().store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="mlpbench")
