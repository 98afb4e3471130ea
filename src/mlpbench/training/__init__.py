"""The backend-neutral training loop and its metrics."""
from mlpbench.training.engine import EpochMetrics, NonFiniteLossError, TrainResult, fit

__all__ = ["EpochMetrics", "NonFiniteLossError", "TrainResult", "fit"]
