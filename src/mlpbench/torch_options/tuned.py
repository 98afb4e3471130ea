"""PyTorch tuned: the torch backend's training step as a PyTorch engineer would write it for speed on a CPU,
with the same mathematics as the eager step (``TorchBackend.train_step``).

What changes, and why (the eager step's profile, ``mlpbench.training.attribution``):

- dropout masks from two random bits per element when the drop rate is a multiple of 1/4 (one 64-bit draw
  per 32 elements, each random byte looked up in a table of its four elements' factors; ``nn.Dropout`` calls
  ``bernoulli_``, one draw per element), otherwise from ``torch.rand``; ReLU and dropout share one mask,
  applied in place, forward and backward;
- the first layer's bias folded into its GEMMs: the data carries a last column of ones, so ``[x, 1] @ [W; b]``
  is ``x @ W + b`` and ``[x, 1].T @ grad`` stacks the weight and bias gradients;
- forward and backward by hand under ``torch.no_grad`` (no autograd graph), the activations, masks and
  gradients in buffers reused from step to step, softmax cross-entropy's gradient in closed form;
- every weight and bias a view into one flat parameter, so the optimizer steps one tensor, with the
  implementation ``torch.optimizer_impl`` names (the ``tuned`` variant: ``fused``).

The masks differ from nn.Dropout's draws but follow the same distribution (each element kept independently
with probability 1 - p, survivors scaled by 1 / (1 - p)); given the same masks the loss and gradients equal
the eager step's (tests/backends/test_tuned_torch.py). Compute only: nothing here reads files or logs.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.profiler import record_function

from mlpbench.backends.torch_backend import OPTIMIZERS, SCHEDULES, TorchBackend
from mlpbench.backends.torch_profile import MANUAL_BACKWARD
from mlpbench.backends.torch_speedups import IMPL_KWARGS
from mlpbench.config import Config, ConfigError

SHIFTS = torch.tensor([0, 2, 4, 6], dtype=torch.uint8)  # the four 2-bit fields of a byte


def two_bit_keep(shape: tuple[int, int], p: float, gen: torch.Generator | None,
                 words: torch.Tensor | None = None) -> torch.Tensor:
    """A boolean keep mask of ``shape``, each element kept with probability 1 - p, for p in {1/4, 1/2, 3/4}.

    Each element reads 2 random bits: kept when either is set (p = 1/4), by the first (1/2), when both are (3/4).
    Element 4k + j reads bits 2j and 2j + 1 of random byte k. words: the random bytes (uint8) or words to use
    instead of drawing them from ``gen``.
    """
    n = shape[0] * shape[1]
    if words is None:
        words = torch.empty(-(-n // 32), dtype=torch.int64).random_(-2**63, None, generator=gen)  # all 64 bits
    fields = (words.view(torch.uint8).unsqueeze(1) >> SHIFTS).view(-1)[:n] & 3
    keep = fields != 0 if p == 0.25 else (fields & 1).bool() if p == 0.5 else fields == 3
    return keep.view(shape)


def byte_table(p: float, dtype: torch.dtype) -> torch.Tensor:
    """(256, 4): for each random byte, its four elements' dropout factors (1 / (1 - p) kept, 0 dropped) as
    ``two_bit_keep`` reads the byte, for p in {1/4, 1/2, 3/4}."""
    keep = two_bit_keep((256, 4), p, None, words=torch.arange(256, dtype=torch.uint8))
    return keep.to(dtype) / (1.0 - p)


def keep_mask(shape: tuple[int, int], p: float, gen: torch.Generator) -> torch.Tensor:
    """Each element kept (True) independently with probability 1 - p."""
    if (4 * p).is_integer():
        return two_bit_keep(shape, p, gen)
    return torch.rand(shape, generator=gen) >= p


class TunedTorchBackend(TorchBackend):
    """``TorchBackend`` with the hand-written step above; evaluation, saving and logging are TorchBackend's,
    on the same weights (the module's parameters are views into the flat one)."""

    def __init__(self, cfg: Config, params: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        super().__init__(cfg, params)
        if (cfg.model.activation != "relu" or self.device.type != "cpu" or cfg.torch.compile or cfg.torch.autocast
                or cfg.model.input_dropout > 0 or cfg.model.max_norm_bound() is not None):
            raise ConfigError("the tuned torch step implements relu on the CPU in float32/64 without compile, "
                              "autocast, input dropout or max-norm; got activation="
                              f"{cfg.model.activation}, device={self.device.type}, compile={cfg.torch.compile}, "
                              f"autocast={cfg.torch.autocast}, input_dropout={cfg.model.input_dropout}, "
                              f"max_norm={cfg.model.max_norm}: use the eager variant")
        self.p = cfg.model.dropout
        self.gen = torch.Generator().manual_seed(cfg.train.seed)
        shapes = list(zip(self.sizes[:-1], self.sizes[1:]))
        self.flat = torch.nn.Parameter(torch.zeros(sum((a + 1) * b for a, b in shapes), dtype=self.dtype))
        self.flat.grad = torch.zeros_like(self.flat)
        self.blocks, self.grads, offset = [], [], 0
        for (fan_in, fan_out), linear in zip(shapes, self.module.linears()):
            size = (fan_in + 1) * fan_out
            block = self.flat.data[offset: offset + size].view(fan_in + 1, fan_out)
            block[:fan_in] = linear.weight.data.t()
            block[fan_in] = linear.bias.data
            linear.weight = torch.nn.Parameter(block[:fan_in].t(), requires_grad=False)  # views: evaluation
            linear.bias = torch.nn.Parameter(block[fan_in], requires_grad=False)  # reads the trained weights
            self.blocks.append(block)
            self.grads.append(self.flat.grad[offset: offset + size].view(fan_in + 1, fan_out))
            offset += size
        self.optimizer = OPTIMIZERS[cfg.optim.name](cfg.optim, [self.flat], **IMPL_KWARGS[cfg.torch.optimizer_impl])
        self.scheduler = SCHEDULES[cfg.schedule.name](cfg.schedule, self.optimizer, cfg.train.epochs)
        self._buffers: dict[str, torch.Tensor] = {}
        self._scale = torch.tensor(1.0 / (1.0 - self.p), dtype=self.dtype)  # a kept element's factor
        self._zero = torch.zeros((), dtype=self.dtype)
        self._lut = byte_table(self.p, self.dtype) if self.p > 0 and (4 * self.p).is_integer() else None

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: torch.dtype | None = None) -> torch.Tensor:
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = self._buffers[name] = torch.empty(shape, dtype=dtype or self.dtype)
        return buf

    def load(self, x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (n, features), y: (n,) -> (n, features + 1) with a last column of ones, and (n,) int64."""
        x_t, y_t = super().load(x, y)
        return torch.cat([x_t, torch.ones(len(x_t), 1, dtype=self.dtype)], dim=1), y_t

    def evaluate(self, data: tuple[torch.Tensor, torch.Tensor], batch_size: int) -> tuple[float, np.ndarray]:
        x, y = data
        return super().evaluate((x[:, :-1], y), batch_size)

    def _scaled_mask(self, out: torch.Tensor, keep: torch.Tensor | None, m: torch.Tensor) -> torch.Tensor:
        """ReLU's and dropout's one mask for ``out`` (n, width) into ``m``: 1 / (1 - p) where ``out`` > 0 and the
        element is kept, else 0. keep: given masks (tests), else this step's draws.

        With two-bit masks and a width divisible by 4 each random byte indexes ``self._lut``, which holds the
        mask values of its four elements (the same bits to elements as ``two_bit_keep``): one gather instead of
        unpacking the bits, comparing and selecting.
        """
        if keep is None and self._lut is not None and out.shape[1] % 4 == 0:
            words = torch.empty(-(-out.numel() // 32), dtype=torch.int64).random_(-2**63, None, generator=self.gen)
            index = words.view(torch.uint8)[: out.numel() // 4].int()
            torch.index_select(self._lut, 0, index, out=m.view(-1, 4))
            return m.masked_fill_(out <= 0, 0)
        mask = out > 0
        if self.p > 0:
            mask &= keep if keep is not None else keep_mask(tuple(out.shape), self.p, self.gen)
        return torch.where(mask, self._scale, self._zero, out=m)

    @torch.no_grad()
    def train_step(self, data: tuple[torch.Tensor, torch.Tensor], idx: np.ndarray,
                   keep: Sequence[torch.Tensor | None] | None = None) -> tuple[float, int]:
        """One step on rows ``idx``; returns (mean loss, correct count). keep: the masks to use (tests)."""
        x, y = data
        n, layers = len(idx), len(self.blocks)
        index = torch.from_numpy(np.asarray(idx, dtype=np.int64))
        xb = torch.index_select(x, 0, index, out=self._buffer("x", (n, x.shape[1])))
        yb = torch.index_select(y, 0, index, out=self._buffer("y", (n,), torch.int64))
        acts, scaled = [xb], []  # each layer's input; each hidden layer's mask as 0 or 1 / (1 - p)
        for i, block in enumerate(self.blocks):
            out = self._buffer(f"a{i}", (n, block.shape[1]))
            if i == 0:
                torch.mm(acts[0], block, out=out)
            else:
                torch.addmm(block[-1], acts[i], block[:-1], out=out)
            if i < layers - 1:
                m = self._scaled_mask(out, keep[i] if keep is not None else None, self._buffer(f"m{i}", out.shape))
                out.mul_(m)
                scaled.append(m)
            acts.append(out)
        logits = acts[-1]
        log_probs = torch.log_softmax(logits, dim=1)
        loss = -log_probs.gather(1, yb.unsqueeze(1)).mean()  # = nn.CrossEntropyLoss
        correct = (logits.argmax(dim=1) == yb).sum()
        grad = log_probs.exp_()  # softmax; the loss's gradient is (softmax - onehot) / n
        grad[torch.arange(n), yb] -= 1.0
        grad.mul_(1.0 / n)
        with record_function(MANUAL_BACKWARD):  # the profile's backward range (mlpbench.training.attribution)
            self._backward(acts, scaled, grad)
        self.optimizer.step()
        return loss.item(), int(correct.item())

    def _backward(self, acts: list[torch.Tensor], scaled: list[torch.Tensor], grad: torch.Tensor) -> None:
        """The gradients into the flat parameter's gradient, from the loss's gradient ``grad`` (n, classes)."""
        n = len(grad)
        for i in reversed(range(len(self.blocks))):
            block, g_block = self.blocks[i], self.grads[i]
            if i == 0:  # [x, 1].T @ grad: the weight gradient, then the bias gradient as its last row
                torch.mm(acts[0].t(), grad, out=g_block)
                return
            torch.mm(acts[i].t(), grad, out=g_block[:-1])
            torch.sum(grad, 0, out=g_block[-1])
            grad = torch.mm(grad, block[:-1].t(), out=self._buffer(f"d{i}", (n, block.shape[0] - 1)))
            grad.mul_(scaled[i - 1])  # through dropout and ReLU: their one mask
