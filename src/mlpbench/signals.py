"""Turning SIGTERM (and a scheduler's SIGUSR2 warning) into an exception, so a stopped run unwinds like a Ctrl-C.

SLURM sends SIGTERM on ``scancel`` and at the time limit; through submitit it also sends SIGUSR2
``signal_delay_s`` seconds before the time limit (and on preemption). Both end the run KILLED.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM; unwinds like KeyboardInterrupt."""


STOPPING = (signal.SIGTERM, signal.SIGUSR2)
WHY = {signal.SIGUSR2: " (the scheduler's warning before its time limit or a preemption)"}


def raise_terminated(signum, frame) -> None:
    """A signal handler: raise ``Terminated`` naming the signal."""
    raise Terminated(f"received signal {signal.Signals(signum).name}{WHY.get(signum, '')}")


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM and SIGUSR2 raise ``Terminated`` in the main thread (no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, raise_terminated) for sig in STOPPING}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT wait (blocked) and are delivered when it ends."""
    stopping = {signal.SIGTERM, signal.SIGINT}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, stopping)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def stop_child_processes(grace_s: float = 10.0) -> None:
    """SIGTERM every process this one started (a stopped sweep's joblib workers), SIGKILL those left after ``grace_s``.

    A worker that was between jobs when the sweep stopped would otherwise take the next queued job
    and train it to the end while the interpreter waits for its pool at exit; one in a job ends its
    run KILLED on the SIGTERM (``sigterm_raises``).
    """
    import psutil

    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.terminate()
    _, alive = psutil.wait_procs(children, timeout=grace_s)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
