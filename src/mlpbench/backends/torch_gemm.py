"""The torch backend's matrix products alone (its GEMM floor) and the BLAS that runs them."""
from __future__ import annotations

import re
from typing import Callable, Sequence

import torch


def gemm_step(sizes: Sequence[int], batch: int, dtype: torch.dtype, device: torch.device) -> Callable[[], None]:
    """The matrix products of a step of ``MLP`` (see ``Backend.gemm_step``) as autograd does them for
    nn.Linear, weights stored (fan_out, fan_in): ``torch.mm`` into preallocated tensors.

    sizes: (in_features, *hidden_sizes, out_features). On CUDA each call waits for the device.
    """
    gen = torch.Generator().manual_seed(0)

    def rand(*shape: int, scale: float = 1.0) -> torch.Tensor:
        """Uniform values in the step's dtype: quick to draw, and what they are does not change a GEMM's time."""
        return (torch.rand(*shape, generator=gen, dtype=dtype) * scale).to(device=device)

    acts = [rand(batch, s) for s in sizes]  # the input, then each layer's output
    grads = [rand(batch, s) for s in sizes]  # gradients of the same
    weights = [rand(b, a, scale=1 / a) for a, b in zip(sizes[:-1], sizes[1:])]
    weight_grads = [torch.empty_like(w) for w in weights]

    @torch.no_grad()
    def step() -> None:
        for i, w in enumerate(weights):
            torch.mm(acts[i], w.t(), out=acts[i + 1])
        for i in reversed(range(len(weights))):
            torch.mm(grads[i + 1].t(), acts[i], out=weight_grads[i])
            if i > 0:  # autograd never computes the data's gradient
                torch.mm(grads[i + 1], weights[i], out=grads[i])
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return step


def blas_info(device: torch.device) -> str:
    """The BLAS torch's matrix products use here, e.g. "mkl 2024.2 (2 threads)" or "cublas (CUDA 12.8)"."""
    if device.type == "cuda":
        return f"cublas (CUDA {torch.version.cuda})"
    build = torch.__config__.show()
    name = re.search(r"BLAS_INFO=(\w+)", build)
    version = re.search(r"Math Kernel Library Version ([\w.]+?)-", build) if torch.backends.mkl.is_available() else None
    return " ".join(filter(None, (name and name.group(1) or "unknown", version and version.group(1)))) + \
        f" ({torch.get_num_threads()} threads)"
