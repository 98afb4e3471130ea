"""One training run end to end, in steps a reader can find:

- ``build``: composed config -> typed ``Config``, checks against the machine and the files, the data;
- ``fit`` (``mlpbench.training``): the shared training loop;
- ``record``: metrics, artifacts and the model to MLflow;
- ``seeds``: the seeds of a configuration, their group in MLflow, then the output files.

``seeds.train_and_track`` runs them all; ``pipelines/train.py`` calls it and tests call it directly.
``summary`` holds a run's name, MLflow params and summary metrics, ``machine`` the checks against this
machine, ``outcome`` the lines a finished run or sweep prints. Nothing is imported here: importing ``mlpbench.run.summary`` must not import ``record``, which
builds backends through their registry (dvc.yaml's deps follow the imports).
"""
