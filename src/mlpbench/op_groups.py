"""The op groups a training step's time is split into (``mlpbench.training.attribution``), declared once for
both backends, the runs' metric keys and the report. Imports nothing, so the report reads it without the training
code.
"""
from __future__ import annotations

from typing import Mapping

# Group name -> what it holds, in the order tables and stacked bars show them; declared once for both backends.
GROUPS: dict[str, str] = {
    "gemm": "GEMMs: the layers' matrix products (torch's addmm also adds the bias; NumPy folds the first "
            "layer's bias into its GEMM and adds the others' in its Linear)",
    "elementwise_forward": "element-wise forward: activations, applying the dropout mask, the accuracy count",
    "dropout_rng": "dropout RNG: drawing the random numbers of the dropout masks",
    "loss": "loss: softmax cross-entropy, forward and backward",
    "elementwise_backward": "backward element-wise: activation and dropout gradients, bias gradients, "
                            "gradient accumulation",
    "optimizer": "optimizer: the parameter update and zeroing the gradients",
    "batch_gather": "batch gather: copying the batch's rows out of the training set",
    "framework_overhead": "framework overhead: the time between ops (Python, dispatch, autograd's engine) and "
                          "ops that move no data (views, allocations)",
}
LABELS: dict[str, str] = {name: text.split(":")[0] for name, text in GROUPS.items()}
METRIC = "attribution/{}_ms"  # per group, ms per step, as MLflow records it
STEP_METRIC, INSTRUMENTED_METRIC = "attribution/step_ms", "attribution/instrumented_step_ms"
COVERAGE_METRIC = "attribution/coverage"  # instrumented over plain step, median of the rounds' paired ratios
ARTIFACT = "attribution/ops.json"  # the raw profile, beside the metrics


def largest(group_ms: Mapping[str, float], n: int = 3, leave_out: tuple[str, ...] = ("gemm",)) -> list[str]:
    """The ``n`` groups with the most ms, largest first, without ``leave_out``."""
    return sorted((g for g in group_ms if g not in leave_out), key=lambda g: -group_ms[g])[:n]
