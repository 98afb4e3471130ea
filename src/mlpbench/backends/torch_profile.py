"""Where a torch training step's time goes: ``torch.profiler`` over a few steps, each operator's own
("self") CPU time put into the op groups both backends share (mlpbench.training.attribution.GROUPS).

An operator belongs to a group by its name or by an operator or range it runs inside: ``aten::mm`` is a
GEMM wherever it runs, anything inside ``Optimizer.step#...`` is the optimizer's, an element-wise kernel inside
autograd's ``evaluate_function`` is backward work. What the step's wall time holds beyond every operator's own
time is the time between operators (Python, dispatch, autograd's engine): framework overhead, with the ops that
only make views or allocate. Compute only: nothing here prints, logs or writes files.
"""
from __future__ import annotations

import collections
import os
import time
from typing import Callable, Sequence

from torch.profiler import ProfilerActivity, profile

from mlpbench.training.attribution import OpProfile

GEMM_OPS = frozenset({"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::mv", "aten::addmv"})
RNG_OPS = frozenset({"aten::bernoulli_", "aten::bernoulli", "aten::uniform_", "aten::rand", "aten::rand_like",
                     "aten::random_", "aten::randint", "aten::randint_like"})
LOSS_OPS = frozenset({"aten::cross_entropy_loss", "aten::log_softmax", "aten::_log_softmax", "aten::nll_loss",
                      "aten::nll_loss_nd", "aten::nll_loss_forward", "aten::_log_softmax_backward_data",
                      "aten::nll_loss_backward", "LogSoftmaxBackward0", "NllLossBackward0"})
GATHER_OPS = frozenset({"aten::index", "aten::index_select", "aten::take"})
# Operators that move no data (views, allocation, wrappers whose work is in the operators they call).
NO_DATA_OPS = frozenset({"aten::view", "aten::t", "aten::transpose", "aten::as_strided", "aten::expand",
                         "aten::reshape", "aten::_reshape_alias", "aten::empty", "aten::empty_like",
                         "aten::empty_strided", "aten::detach", "detach", "aten::resolve_conj", "aten::resolve_neg",
                         "aten::lift_fresh", "aten::alias", "aten::linear", "aten::matmul", "aten::dropout",
                         "aten::relu", "aten::item", "aten::to", "aten::numpy_T", "aten::unsqueeze",
                         "aten::squeeze", "aten::select", "aten::slice", "aten::result_type"})
OPTIMIZER_RANGES = ("Optimizer.step#", "Optimizer.zero_grad#")
MAX_NORM_OPS = frozenset({"aten::renorm_", "aten::renorm"})  # model.max_norm: part of the parameter update
BACKWARD_RANGE = "autograd::engine::evaluate_function"
# A range a hand-written backward pass (no autograd) opens with torch.profiler.record_function: its operators
# are backward work too.
MANUAL_BACKWARD = "mlpbench.backward"


def group_of(name: str, outer: Sequence[str]) -> str:
    """The op group of operator ``name`` running inside ``outer`` (its enclosing operators and ranges)."""
    chain = (name, *outer)
    if any(n in GEMM_OPS for n in chain):
        return "gemm"
    if any(n in RNG_OPS for n in chain):
        return "dropout_rng"
    if any(n.startswith(OPTIMIZER_RANGES) for n in chain) or name in MAX_NORM_OPS:
        return "optimizer"
    if any(n in LOSS_OPS or n.removeprefix(f"{BACKWARD_RANGE}: ") in LOSS_OPS for n in chain):
        return "loss"
    if (name in NO_DATA_OPS or name.startswith(("autograd::", "torch::autograd::")) or name.endswith("Backward0")
            or name == MANUAL_BACKWARD):
        return "framework_overhead"
    if any(n.startswith((BACKWARD_RANGE, MANUAL_BACKWARD)) for n in outer):
        return "elementwise_backward"
    if any(n in GATHER_OPS for n in chain):
        return "batch_gather"
    return "elementwise_forward"


def _outer(event) -> list[str]:
    names, parent = [], event.cpu_parent
    while parent is not None:
        names.append(parent.name)
        parent = parent.cpu_parent
    return names


def op_attribution(step: Callable[[], object], steps: int) -> OpProfile:
    """``steps`` calls of ``step`` (one training step each) under torch.profiler: seconds per step per op
    group; "framework_overhead" also holds the steps' wall time that no operator's own time covers.

    ops: one row per (operator, group), its own ms and calls per step, largest first.
    """
    # kineto, the profiler's library, would log two lines per session to stderr (read when it first starts); a
    # value the user set wins
    os.environ.setdefault("KINETO_LOG_LEVEL", "99")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        wall = time.perf_counter() - start
    seconds: collections.Counter[tuple[str, str]] = collections.Counter()
    calls: collections.Counter[tuple[str, str]] = collections.Counter()
    for event in prof.events():
        key = (event.name, group_of(event.name, _outer(event)))
        seconds[key] += event.self_cpu_time_total / 1e6
        calls[key] += 1
    between = wall - sum(seconds.values())
    group_s: dict[str, float] = collections.defaultdict(float)
    for (_, group), s in seconds.items():
        group_s[group] += s / steps
    group_s["framework_overhead"] += between / steps
    ops = [{"name": name, "group": group, "ms_per_step": 1e3 * s / steps, "calls_per_step": calls[name, group] / steps}
           for (name, group), s in seconds.most_common()]
    ops.append({"name": "(between operators)", "group": "framework_overhead", "ms_per_step": 1e3 * between / steps,
                "calls_per_step": 0.0})
    return OpProfile(dict(group_s), ops)

