"""Optimizers with torch.optim's semantics: SGD (momentum, Nesterov), Adam, AdamW, RMSprop.

Weight decay follows torch: SGD and Adam add ``weight_decay * p`` to the gradient (L2), AdamW
shrinks the parameters directly (decoupled). Given an ``MLP``'s single flat Parameter
(``model.flat_parameters()``), every step is a handful of whole-array in-place ufunc calls.
Each Parameter gets its state and scratch arrays once, at construction.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from .module import Parameter


class Optimizer:
    """Base class: holds the parameters and the learning rate ``lr`` that schedulers change."""

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list; pass model.parameters()")
        self.lr = float(lr)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad.fill(0)

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """``torch.optim.SGD`` with dampening 0.

    torch's step:  g = grad + weight_decay * p;  buf = momentum * buf + g (buf = g on the first
    step);  d = g + momentum * buf (Nesterov) or buf (momentum) or g;  p -= lr * d.

    We store ``momentum_terms`` = momentum * buf instead of buf (zeros before the first step), so
    ``momentum_terms + g`` is the new buf. For Nesterov, momentum * buf is then computed once, in
    place: it is this step's term of d and the next step's momentum term, which makes five passes
    over the arrays instead of six. Each operation rounds as in the formulas above, so the
    parameters are bit for bit those of their direct transcription (a test checks this).
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if nesterov and momentum <= 0:
            raise ValueError("SGD nesterov=True needs momentum > 0")
        self.momentum, self.nesterov, self.weight_decay = float(momentum), nesterov, float(weight_decay)
        self.momentum_terms = [np.zeros_like(p.data) for p in self.params] if momentum else []
        self._decayed = [np.empty_like(p.data) for p in self.params] if weight_decay else []
        self._update = [np.empty_like(p.data) for p in self.params]

    def step(self) -> None:
        mu, lr = self.momentum, self.lr
        for i, p in enumerate(self.params):
            g = p.grad
            if self.weight_decay:
                g = np.multiply(p.data, self.weight_decay, out=self._decayed[i])
                g += p.grad
            update = self._update[i]
            if not mu:
                np.multiply(g, -lr, out=update)
            else:
                term = self.momentum_terms[i]
                term += g  # torch's buf
                if self.nesterov:
                    term *= mu  # momentum * buf: used in d now and as the next step's term
                    np.add(g, term, out=update)
                    update *= -lr
                else:
                    np.multiply(term, -lr, out=update)
                    term *= mu
            p.data += update


class Adam(Optimizer):
    """``torch.optim.Adam`` (``decoupled=False``) and ``AdamW`` (``decoupled=True``).

    torch keeps m = beta1 m + (1 - beta1) g and v = beta2 v + (1 - beta2) g**2 and steps
    p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps), with bc_i = 1 - beta_i**t.
    To need fewer passes over the arrays we keep the undamped sums m_sum = beta1 m_sum + g and
    v_sum = beta2 v_sum + g**2 instead, so m = (1 - beta1) m_sum and v = (1 - beta2) v_sum, and
    the same step reads  p -= lr (1 - beta1) / (bc1 c) * m_sum / (sqrt(v_sum) + eps / c)
    with c = sqrt((1 - beta2) / bc2): equal to torch's up to rounding.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps, self.weight_decay, self.decoupled = float(eps), float(weight_decay), decoupled
        self.step_count = 0
        self.m_sums = [np.zeros_like(p.data) for p in self.params]
        self.v_sums = [np.zeros_like(p.data) for p in self.params]
        self._decayed = [np.empty_like(p.data) for p in self.params] if weight_decay and not decoupled else []
        self._scratch = [np.empty_like(p.data) for p in self.params]

    def step(self) -> None:
        self.step_count += 1
        b1, b2, t = self.beta1, self.beta2, self.step_count
        c = math.sqrt((1.0 - b2) / (1.0 - b2**t))
        step_size = self.lr * (1.0 - b1) / ((1.0 - b1**t) * c)
        eps_hat = self.eps / c
        for i, p in enumerate(self.params):
            g = p.grad
            if self.weight_decay and self.decoupled:
                p.data *= 1.0 - self.lr * self.weight_decay
            elif self.weight_decay:
                g = np.multiply(p.data, self.weight_decay, out=self._decayed[i])
                g += p.grad
            m_sum, v_sum, tmp = self.m_sums[i], self.v_sums[i], self._scratch[i]
            m_sum *= b1
            m_sum += g
            np.multiply(g, g, out=tmp)
            v_sum *= b2
            v_sum += tmp
            np.sqrt(v_sum, out=tmp)
            tmp += eps_hat
            np.divide(m_sum, tmp, out=tmp)
            tmp *= step_size
            p.data -= tmp


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay, p *= 1 - lr * weight_decay."""

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, decoupled=True)


class RMSprop(Optimizer):
    """``torch.optim.RMSprop``.

    torch's step:  g = grad + weight_decay * p;  v = alpha v + (1 - alpha) g**2;  with ``centered``
    also a = alpha a + (1 - alpha) g and the denominator d = sqrt(v - a**2) + eps, else
    d = sqrt(v) + eps;  then p -= lr * g / d, or with momentum  buf = momentum buf + g / d,
    p -= lr * buf.  Written out in that order, so it rounds as torch does up to the sqrt. One
    scratch array per Parameter holds each intermediate in turn, so a step allocates nothing.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.alpha, self.eps, self.weight_decay = float(alpha), float(eps), float(weight_decay)
        self.momentum, self.centered = float(momentum), centered
        self.square_avgs = [np.zeros_like(p.data) for p in self.params]
        self.grad_avgs = [np.zeros_like(p.data) for p in self.params] if centered else []
        self.momentum_bufs = [np.zeros_like(p.data) for p in self.params] if momentum else []
        self._decayed = [np.empty_like(p.data) for p in self.params] if weight_decay else []
        self._scratch = [np.empty_like(p.data) for p in self.params]

    def step(self) -> None:
        alpha = self.alpha
        for i, p in enumerate(self.params):
            g = p.grad
            if self.weight_decay:
                g = np.multiply(p.data, self.weight_decay, out=self._decayed[i])
                g += p.grad
            v, d = self.square_avgs[i], self._scratch[i]
            v *= alpha
            np.multiply(g, g, out=d)
            d *= 1.0 - alpha
            v += d
            if self.centered:
                a = self.grad_avgs[i]
                a *= alpha
                np.multiply(g, 1.0 - alpha, out=d)
                a += d
                np.multiply(a, a, out=d)
                np.subtract(v, d, out=d)
                np.sqrt(d, out=d)
            else:
                np.sqrt(v, out=d)
            d += self.eps
            np.divide(g, d, out=d)  # g / denominator
            if self.momentum:
                buf = self.momentum_bufs[i]
                buf *= self.momentum
                buf += d
                np.multiply(buf, -self.lr, out=d)
            else:
                d *= -self.lr
            p.data += d  # p - lr * x and p + (-lr) * x round alike: negation is exact
