"""Training progress for people: a tqdm bar in a terminal, one log line per epoch elsewhere."""
from __future__ import annotations

import logging
import os
import sys

from tqdm.auto import tqdm

from mlpbench.training.engine import EpochMetrics

log = logging.getLogger("mlpbench")


class EpochProgress:
    """Callbacks for ``training.fit``: ``on_step`` and ``on_epoch``.

    In a terminal (stderr is a TTY and CI is unset) a bar advances per epoch and shows the running
    loss and the last validation accuracy; otherwise each epoch logs one line.
    """

    def __init__(self, epochs: int, label: str, interactive: bool | None = None):
        if interactive is None:
            interactive = sys.stderr.isatty() and not _in_ci()
        self.label, self.epochs = label, epochs
        self.bar = tqdm(total=epochs, desc=label, unit="epoch", leave=True) if interactive else None

    def on_step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        if self.bar is not None and step % 50 == 0:
            self.bar.set_postfix_str(f"step {step}/{steps} loss {loss:.4f}", refresh=True)

    def on_epoch(self, m: EpochMetrics) -> None:
        line = (f"epoch {m.epoch}/{self.epochs} train loss {m.train_loss:.4f} acc {m.train_acc:.4f} | "
                f"val loss {m.val_loss:.4f} acc {m.val_acc:.4f} | {m.epoch_time:.2f}s "
                f"({m.samples_per_s:,.0f} samples/s)")
        if self.bar is None:
            log.info("%s %s", self.label, line)
        else:
            self.bar.set_postfix_str(f"loss {m.train_loss:.4f} val acc {m.val_acc:.4f}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _in_ci() -> bool:
    return bool(os.environ.get("CI"))
