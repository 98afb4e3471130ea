"""The torch backend's own optimizations (``torch.*`` in conf/): how torch.optim runs the update,
forward passes under autocast, and what really ran.

Compute only: nothing here reads files or logs.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable

import torch
from torch.optim.optimizer import _default_to_fused_or_foreach

from mlpbench.config import ConfigError
from mlpbench.config.schema import AUTOCAST_DTYPES, OPTIMIZER_IMPLS

AUTOCAST = {"bfloat16": torch.bfloat16}
# torch.optim keyword arguments of each optimizer_impl; "default" leaves the choice to torch.
IMPL_KWARGS: dict[str, dict[str, bool]] = {"default": {}, "single_tensor": {"foreach": False},
                                           "foreach": {"foreach": True}, "fused": {"fused": True}}
if set(AUTOCAST) != set(AUTOCAST_DTYPES) or set(IMPL_KWARGS) != set(OPTIMIZER_IMPLS):
    raise TypeError(f"torch_speedups implements autocast {sorted(AUTOCAST)} and optimizer_impl {sorted(IMPL_KWARGS)}, "
                    f"but the schema has {AUTOCAST_DTYPES} and {OPTIMIZER_IMPLS}")


def used_impl(optimizer: torch.optim.Optimizer) -> str:
    """The implementation ``optimizer``'s steps run: fused, foreach or single_tensor.

    With neither ``foreach`` nor ``fused`` given, torch decides at every step with the helper
    called here (torch/optim/optimizer.py): foreach when every parameter is on CUDA, else the for-loop.
    """
    defaults = optimizer.defaults
    if defaults.get("fused"):
        return "fused"
    foreach = defaults.get("foreach")
    if foreach is None:
        params = [p for group in optimizer.param_groups for p in group["params"]]
        _, foreach = _default_to_fused_or_foreach(params, differentiable=False, use_fused=False)
    return "foreach" if foreach else "single_tensor"


def check_impl(make: Callable[..., torch.optim.Optimizer], optim_name: str, impl: str, device: torch.device,
               dtype: torch.dtype) -> None:
    """Raise ``ConfigError`` when torch cannot run ``impl`` for this optimizer, device and dtype.

    make(params, **kwargs) builds the configured optimizer; it is asked to take one step on one small
    parameter, so the answer is torch's own.
    """
    param = torch.nn.Parameter(torch.zeros(4, device=device, dtype=dtype))
    param.grad = torch.ones_like(param)
    try:
        make([param], **IMPL_KWARGS[impl]).step()
    except (RuntimeError, TypeError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"torch.optimizer_impl={impl} is not available for optim={optim_name} on {device.type} in "
                          f"{str(dtype).removeprefix('torch.')} (torch {torch.__version__}: {reason}); use "
                          "torch.optimizer_impl=foreach or default, or an optimizer torch fuses (sgd, nesterov, "
                          "adam, adamw)") from None


def autocast(device: torch.device, name: str | None) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast`` to the dtype ``name`` on ``device``'s type, or nothing when ``name`` is None."""
    if name is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AUTOCAST[name])
