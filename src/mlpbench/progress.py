"""Training progress for people: status lines, then a tqdm bar with a line per epoch in a terminal;
log lines elsewhere.

In a terminal (stderr is a TTY and CI is unset) a run says what it does before its first epoch
(``Status``: checking the data, the MLflow store, loading the arrays), keeps one line per epoch above
its bar, and fits its bar into the terminal's width however long its name. Elsewhere (a log file, CI,
DVC's captured output) each epoch logs one line and the status lines go to the debug log only, so logs
do not fill with them.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import Iterator, Mapping

from tqdm.auto import tqdm

from mlpbench.training.engine import EpochMetrics

log = logging.getLogger("mlpbench")
LABEL_MAX = 48  # characters of a bar's description: at 120 columns the bar keeps 15 or more
# No rate (s/epoch): the per-epoch lines give each epoch's time, and the columns go to the bar.
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]"
SLOW_S = 1.0  # a status step at least this long shows its time


def watched() -> bool:
    """Whether a person watches: stderr is a terminal and CI is unset."""
    return sys.stderr.isatty() and not os.environ.get("CI")


def percent(fraction: float) -> str:
    """An accuracy as people read it: ``0.98174`` -> ``98.17 %``."""
    return f"{fraction * 100:.2f} %"


def cut(text: str, width: int) -> str:
    """``text``, or its first ``width - 1`` characters and an ellipsis."""
    return text if len(text) <= width else text[:max(width - 1, 0)].rstrip() + "…"


def bar_label(name: str, first: tuple[str, ...] = ()) -> str:
    """A bar's description: what tells the run apart from its neighbours (a sweep job's swept values,
    its seed) first, then its name, cut to ``LABEL_MAX`` characters."""
    return cut(" ".join((*first, name)), LABEL_MAX)


class Status:
    """Short lines on what a run does before its first epoch.

    interactive: lines go to stderr (None: when a person watches, ``watched``); otherwise to
    the debug log. live: a step's line appears as it starts and gets its result when done (one process
    writing to the terminal); otherwise the whole line appears when the step is done.
    """

    def __init__(self, interactive: bool | None = None, live: bool = True):
        self.interactive = watched() if interactive is None else interactive
        self.live = live and self.interactive

    @contextlib.contextmanager
    def step(self, doing: str, live: bool = True) -> Iterator[dict[str, str]]:
        """Around one step; set ``["done"]`` on the yielded dict to say more than ``ok``.

        live=False: the whole line when done, also in a live terminal, for a step that may log lines
        of its own (MLflow creating a store's tables) that would otherwise land inside it.
        """
        live, result, start = live and self.live, {"done": "ok"}, time.perf_counter()
        if live:
            sys.stderr.write(f"{doing} ... ")
            sys.stderr.flush()
        try:
            yield result
        except BaseException:
            if live:
                sys.stderr.write("failed\n")  # the error's own message follows on its own line
            raise
        took = time.perf_counter() - start
        done = result["done"] + (f" ({took:.1f} s)" if took >= SLOW_S else "")
        self.say(done if live else f"{doing} ... {done}")

    def say(self, line: str) -> None:
        """One whole line (ends a live step's line)."""
        if self.interactive:
            print(line, file=sys.stderr, flush=True)
        else:
            log.debug("%s", line)


class EpochProgress:
    """Callbacks for ``training.fit``: ``on_step`` and ``on_epoch``.

    In a terminal (``watched``) a bar advances per epoch and shows the running loss and the last
    validation accuracy, and each epoch's line is written above it, where it stays; otherwise each
    epoch logs its line. label: the bar's description (``bar_label``) and the log lines' prefix.
    """

    def __init__(self, epochs: int, label: str, interactive: bool | None = None):
        if interactive is None:
            interactive = watched()
        self.label, self.epochs = label, epochs
        self.bar = tqdm(total=epochs, desc=label, unit="epoch", leave=True, bar_format=BAR_FORMAT,
                        dynamic_ncols=True) if interactive else None

    def on_step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        if self.bar is not None and step % 50 == 0:
            self.bar.set_postfix_str(f"step {step}/{steps} loss {loss:.4f}", refresh=True)

    def on_epoch(self, m: EpochMetrics) -> None:
        line = epoch_line(m, self.epochs)
        if self.bar is None:
            log.info("%s %s", self.label, line)
        else:
            self.bar.write(line, file=sys.stderr)
            self.bar.set_postfix_str(f"loss {m.train_loss:.4f} val {percent(m.val_acc)}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def epoch_line(m: EpochMetrics, epochs: int) -> str:
    """``epoch 3/13  train loss 0.0812 acc 97.52 %  val loss 0.0934 acc 97.21 %  2.31 s  20,781 samples/s``"""
    return (f"epoch {m.epoch:>{len(str(epochs))}}/{epochs}  train loss {m.train_loss:.4f} acc {percent(m.train_acc)}  "
            f"val loss {m.val_loss:.4f} acc {percent(m.val_acc)}  {m.epoch_time:.2f} s  "
            f"{m.samples_per_s:,.0f} samples/s")


def rows_line(sizes: Mapping[str, int]) -> str:
    """``48,000 training, 12,000 validation, 10,000 test rows``"""
    return ", ".join(f"{n:,} {part}" for part, n in sizes.items()) + " rows"
