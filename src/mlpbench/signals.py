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
DEFERRED = (signal.SIGINT, *STOPPING)  # what ``signals_deferred`` holds back
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
    """Within the block, SIGINT, SIGTERM and SIGUSR2 wait; the first to arrive is acted on as the block ends.

    For work that must not be cut in half: moving outputs into place, and writes to a SQLite
    MLflow store (an exception raised inside SQLAlchemy's session left the store's write lock
    held, and ending the run KILLED then failed with "database is locked"). The signals' handlers
    are swapped for one that only notes the signal, because Python runs handlers in the main
    thread whichever thread the kernel picked (a ``pthread_sigmask`` of the main thread alone
    lets BLAS threads take the signal). As the block ends, the noted signal goes to the handler
    it would have met: ``Terminated`` or ``KeyboardInterrupt`` is raised there. A no-op outside
    the main thread, where handlers cannot be set.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: noted.append(signum)) for sig in DEFERRED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # None: not set from Python
        if noted:
            _deliver(noted[0], previous[noted[0]])


def _deliver(signum: int, handler) -> None:
    """Act on ``signum`` as ``handler`` (the one in place before the block) would have."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        signal.raise_signal(signum)  # the default action: end the process


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
