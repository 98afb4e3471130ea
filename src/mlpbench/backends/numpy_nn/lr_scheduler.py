"""Per-epoch learning-rate schedules with torch.optim.lr_scheduler's exact formulas.

torch's ``step()`` updates the rate recursively from the current one (its "chainable" form), not
from the closed form, so these do the same to give bit-for-bit equal sequences.
"""
from __future__ import annotations

import math

from .optim import Optimizer


class LRScheduler:
    """Base class: ``step()`` once per epoch sets ``optimizer.lr`` to ``get_lr()``."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def get_lr(self) -> float:
        raise NotImplementedError

    def get_last_lr(self) -> float:
        return self.optimizer.lr

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.lr = self.get_lr()


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def get_lr(self) -> float:
        lr = self.optimizer.lr
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lr
        return lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    """eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2, in torch's recursive form."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        super().__init__(optimizer)
        self.T_max, self.eta_min = T_max, eta_min

    def get_lr(self) -> float:
        lr, e, T, eta_min = self.optimizer.lr, self.last_epoch, self.T_max, self.eta_min
        if e == 0:
            return lr
        if (e - 1 - T) % (2 * T) == 0:
            return lr + (self.base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
        ratio = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T))
        return ratio * (lr - eta_min) + eta_min
