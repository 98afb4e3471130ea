"""``hydra/sweeper=optuna``: an Optuna study as a Hydra multirun, for Hydra 1.3 and Optuna 4/5.

Installed with the package (pyproject's package search covers ``src/``), so Hydra's plugin scan finds it
from any working folder; ``config`` registers the ``hydra/sweeper/optuna`` node, ``sweeper`` holds the
sweeper. See README, "Search (Optuna)".
"""
