"""What a person sees in a 120-column terminal: status lines before the first epoch, a line per epoch that
stays above the bar, a bar that keeps its width behind a long name, closing lines that fit."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import sys
import termios
import threading
import time
from typing import Callable

import pytest

from mlpbench.config.load import load
from mlpbench.run.outcome import WIDTH, run_lines, sweep_table
from mlpbench.progress import EpochProgress, bar_label
from mlpbench.run.seeds import train_and_track
from mlpbench.run.summary import run_name
from mlpbench.training.engine import EpochMetrics

from support import PROJECT_ROOT, tiny_config

RUN_ID = "9e78b86f57b7491f8d57cbbf40909d48"
# A sweep job of a long configuration: torch options away from their defaults and two swept keys
LONG = ["backend=torch", "model.hidden_sizes=[1024,512,256]", "torch.compile=true", "torch.optimizer_impl=fused"]
SWEPT = {"model.hidden_sizes": "[1024,512,256]", "optim.lr": "0.05"}


def screen(written: str, width: int = WIDTH) -> list[str]:
    """The lines a terminal of ``width`` columns shows for ``written``: ``\\r`` returns to the first
    column and later characters overwrite earlier ones; a line longer than ``width`` wraps."""
    lines = []
    for raw in written.split("\n"):
        row: list[str] = []
        for part in raw.split("\r"):
            row[:len(part)] = part
        text = "".join(row).rstrip()
        lines += [text[i:i + width] for i in range(0, len(text), width)] or [""]
    return lines


def on_terminal(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """stderr on a pseudo-terminal of ``WIDTH`` x 40 with CI unset (a person watching), from now on
    (pytest sets its own stderr again as each test phase starts); returns a function that gives what
    the terminal got, as ``screen`` lines (after which nothing may write to stderr)."""
    master, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, WIDTH, 0, 0))
    got: list[bytes] = []

    def drain() -> None:  # read as it comes: a full pty buffer would block the writer
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the follower side closed
                return
            if not data:
                return
            got.append(data)

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    stderr = open(follower, "w", encoding="utf-8", buffering=1)
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.delenv("CI", raising=False)

    def read() -> list[str]:
        stderr.flush()
        seen = -1
        while seen != len(got):  # until the reader has had all: Linux drops what is unread at close
            seen = len(got)
            time.sleep(0.3)
        stderr.close()
        thread.join(10)
        os.close(master)
        return screen(b"".join(got).decode())

    return read


def _metrics(epoch: int) -> EpochMetrics:
    return EpochMetrics(epoch, train_loss=0.1, train_acc=0.97, val_loss=0.12, val_acc=0.9612, lr=0.1,
                        epoch_time=2.3, eval_time=0.2, samples_per_s=20781.0)


def test_a_run_ends_in_lines_that_fit_120_columns(tmp_path):
    cfg = load(tiny_config(tmp_path, LONG))
    name = run_name(cfg, SWEPT) + " (5 seeds)"
    assert len(name) > 100  # wraps a 120-column terminal with its numbers after it
    summary = {"run_name": name, "run_id": RUN_ID, "experiment_id": "3", "val_acc": 0.98174, "test_acc": 0.98203,
               "sd": 0.00051, "total_s": 4.12, "seed_runs": {str(s): f"r{s}" for s in range(5)}}
    project_store = f"sqlite:///{PROJECT_ROOT / 'mlflow.db'}"

    linked = run_lines(summary, project_store, "http://127.0.0.1:5000/", PROJECT_ROOT)
    assert all(len(line) <= WIDTH for line in linked), linked
    # the name cut where it repeats the config, keeping the swept values; the numbers whole on their own line:
    # accuracies as percentages, the time labelled
    assert linked[0].startswith("[model.hidden_sizes=[1024,512,256] optim.lr=0.05] torch h1024-512-256 relu")
    assert linked[0].endswith("… (5 seeds):")
    assert linked[1:] == ["  val 98.17 % test 98.20 ± 0.05 % (means), trained in 4.1 s per seed",
                          f"MLflow run: http://127.0.0.1:5000/#/experiments/3/runs/{RUN_ID}"]
    one = {**summary, "run_name": run_name(cfg), "seed_runs": {"0": RUN_ID}}
    assert run_lines(one, project_store, None, PROJECT_ROOT)[0] == \
        f"{run_name(cfg)}: val 98.17 % test 98.20 %, trained in 4.1 s"

    assert run_lines(summary, project_store, None, PROJECT_ROOT)[2] == \
        f"MLflow run {RUN_ID} (experiment 3); to browse it: make ui"
    other = f"sqlite:///{tmp_path / 'a-store-with-a-long-path-that-pushes-the-command-past-the-width' / 'mlflow.db'}"
    lines = run_lines(summary, other, None, PROJECT_ROOT)
    assert lines[3] == f"  mlflow ui --backend-store-uri {other}"  # the command whole, on its own line
    assert all(len(line) <= WIDTH for line in lines[:3])


def test_the_bar_keeps_its_width_behind_a_long_name(tmp_path, monkeypatch):
    terminal = on_terminal(monkeypatch)
    cfg = load(tiny_config(tmp_path, LONG))
    bar = EpochProgress(2, bar_label(run_name(cfg), tuple(f"{k}={v}" for k, v in SWEPT.items())), )
    for epoch in (1, 2):
        bar.on_epoch(_metrics(epoch))
    bar.close()
    shown = [line for line in terminal() if line]
    assert shown[-1].startswith("model.hidden_sizes=[1024,512,256] optim.lr=0.05"), shown  # swept values first
    assert shown[-1].endswith("| 2/2 [00:00<00:00, loss 0.1000 val 96.12 %]") and len(shown[-1]) <= WIDTH, shown
    assert shown[-1].count("█") >= 15, shown


def test_a_run_in_a_terminal_says_what_it_does_and_keeps_a_line_per_epoch(tiny_root, monkeypatch):
    terminal = on_terminal(monkeypatch)
    train_and_track(tiny_config(tiny_root, ["train.epochs=3"]), tiny_root, tiny_root / "out")
    shown = terminal()
    assert "checking mnist data in data ... ok" in shown, shown  # the tiny data lies under the working folder
    # the store's file as the shell reaches it: a long absolute path would wrap the line
    assert any(re.fullmatch(r"checking MLflow store mlflow\.db \.\.\. ok( \(.* s\))?", line) for line in shown), shown
    assert any(re.fullmatch(r"loading mnist \.\.\. 240 training, 60 validation, 100 test rows( \(.* s\))?", line)
               for line in shown), shown
    epochs = [line for line in shown if line.startswith("epoch ")]
    assert [line[:len("epoch 1/3")] for line in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"], shown
    assert all(re.fullmatch(r"epoch \d/3  train loss \d\.\d{4} acc \d+\.\d\d %  val loss \d\.\d{4} acc \d+\.\d\d %  "
                            r"\d+\.\d\d s  [\d,]+ samples/s", line) for line in epochs), epochs
    # the bar, left at its end below the epochs' lines
    assert shown.index(epochs[-1]) < max(i for i, line in enumerate(shown) if "| 3/3 [" in line)


def test_a_run_without_a_terminal_leaves_its_status_lines_out_of_the_output(tiny_root, capfd):
    train_and_track(tiny_config(tiny_root), tiny_root, tiny_root / "out", progress=False)
    err = capfd.readouterr().err
    assert "checking" not in err and "loading mnist" not in err and "█" not in err, err


def test_the_sweep_table_fits_120_columns():
    long = " ".join(f"model.hidden_sizes=[{n},{n}]" for n in range(1000, 1010))
    rows = [{"job": 0, "overrides": "optim.lr=0.05", "status": "FINISHED", "val_acc": 0.98174, "test_acc": 0.982,
             "time_s": 41.26},
            {"job": 1, "overrides": long, "status": "FAILED", "val_acc": None, "test_acc": None, "time_s": None},
            {"job": 12, "overrides": "optim.lr=0.2", "status": "not started", "val_acc": None, "test_acc": None,
             "time_s": None}]
    table = sweep_table(rows)
    assert all(len(line) <= WIDTH for line in table), table
    assert table[0].split() == ["job", "overrides", "status", "val", "acc", "test", "acc", "trained", "in"]
    assert table[1].split() == ["0", "optim.lr=0.05", "FINISHED", "98.17", "%", "98.20", "%", "41.3", "s"]
    assert table[2].startswith("  1  model.hidden_sizes=[1000,1000] model.hidden_sizes=[1001,1001]")
    assert table[2].split("…")[1].split() == ["FAILED", "-", "-", "-"]
    assert table[3].split() == ["12", "optim.lr=0.2", "not", "started", "-", "-", "-"]

