"""Logging a run's data splits as MLflow dataset inputs (the UI's "Datasets used")."""
from __future__ import annotations

import warnings

import mlflow
import mlflow.data

from mlpbench.tracking.races import retried

# MLflow stores a dataset digest in at most 36 characters.
_DIGEST_CHARS = 36


def split_digest(data_sha256: str, context: str) -> str:
    """The digest of one split: the start of the project's data hash, then the split's context.

    MLflow's own digest hashes only the first 10,000 rows; ``data_sha256`` (the run's tag of that
    name) covers every array and the split indices, so it is passed explicitly.
    """
    return f"{data_sha256[:_DIGEST_CHARS - len(context) - 1]}-{context}"


def splits_of(data) -> dict[str, tuple]:
    """``log_datasets``' splits of a loaded data set (``mlpbench.data.Dataset``: ``x_train``, ``y_val``...)."""
    return {"training": (data.x_train, data.y_train), "validation": (data.x_val, data.y_val),
            "test": (data.x_test, data.y_test)}


def log_datasets(splits, source: str, data_sha256: str, name: str) -> None:
    """Log each split as an input of the active run.

    splits: ``{context: (features (n, 784) float, labels (n,) int)}`` with contexts such as
    "training", "validation", "test"; source: where the data lives (the DVC-tracked folder);
    name: the data set's name, e.g. "mnist" (each input is "<name>-<split>").
    """
    for context, (features, labels) in splits.items():
        split = "train" if context == "training" else context
        with warnings.catch_warnings():  # a local path matches two of MLflow's source types; either is right
            warnings.filterwarnings("ignore", "The specified dataset source can be interpreted", UserWarning)
            dataset = mlflow.data.from_numpy(features, targets=labels, name=f"{name}-{split}", source=source,
                                             digest=split_digest(data_sha256, context))
        # stored once per experiment: jobs that finish together on the same data race to insert it
        retried(lambda: mlflow.log_input(dataset, context=context))
