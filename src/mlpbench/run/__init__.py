"""One training run end to end, in three steps a reader can find:

- ``build``: composed config -> typed ``Config``, checks against the machine and the files, the data;
- ``fit`` (``mlpbench.training``): the shared training loop;
- ``record``: metrics, artifacts and the model to MLflow, then the output files.

``train_and_track`` runs all three; ``pipelines/train.py`` calls it and tests call it directly.
"""
from mlpbench.run.build import Prepared, output_paths, prepare_run, preflight, run_name, with_threads
from mlpbench.run.record import history_csv, summary_metrics, train_and_track

__all__ = ["Prepared", "history_csv", "output_paths", "preflight", "prepare_run", "run_name", "summary_metrics",
           "train_and_track", "with_threads"]
