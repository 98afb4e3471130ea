"""The backend-neutral training loop and its metrics."""
from mlpbench.training.divergence import DivergedError, LossGuard, NonFiniteLossError
from mlpbench.training.engine import EpochMetrics, TrainResult, fit

__all__ = ["DivergedError", "EpochMetrics", "LossGuard", "NonFiniteLossError", "TrainResult", "fit"]
