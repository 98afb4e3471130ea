"""The backend-neutral training loop and its metrics."""
from mlpbench.training.engine import Dataset, EpochMetrics, NonFiniteLossError, TrainResult, fit

__all__ = ["Dataset", "EpochMetrics", "NonFiniteLossError", "TrainResult", "fit"]
