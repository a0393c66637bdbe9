"""Child processes that end with us: ``sweeps ui``'s ``mlflow server``, ``sweeps run
--workers N``'s workers, ``sweeps dashboard``'s server.

A service manager stops a process with SIGTERM, a closed terminal sends SIGHUP, Ctrl-C
sends SIGINT; by default the first two kill only the parent and leave its children
serving the port or training. :func:`stop_signals_as_interrupt` turns all three into
``KeyboardInterrupt`` (the one way a command stops), and :func:`run_in_group` runs a child
in a process group of its own that is stopped as a whole.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
GRACE_S = 10.0
"""Seconds a child group gets to exit after SIGTERM before it is killed."""


@contextlib.contextmanager
def stop_signals_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``KeyboardInterrupt`` like Ctrl-C does, in the main thread
    (elsewhere signals cannot be handled and this does nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


_interrupted = threading.Event()


@contextlib.contextmanager
def interrupts_remembered() -> Iterator[None]:
    """Ctrl-C (SIGINT) raises ``KeyboardInterrupt`` as before, and is also remembered for
    the block (:func:`interrupt_requested`): a library that turns the
    ``KeyboardInterrupt`` into an error of its own when it lands in its cleanup (Optuna's
    journal file lock does, inside its release) would otherwise have the trial failed with
    that error and the sweep go on. In the main thread, over a Python-level handler only."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    _interrupted.clear()

    def handler(signum: int, frame: Any) -> None:
        _interrupted.set()
        previous(signum, frame)  # Python's default handler raises KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _interrupted.clear()  # remembered for this block only


def interrupt_requested() -> bool:
    """Whether a Ctrl-C came during the current :func:`interrupts_remembered` block: an
    error caught there may be what a library made of it."""
    return _interrupted.is_set()


@contextlib.contextmanager
def on_stop_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Call ``stop()`` (from the signal handler: it must only start the stopping) on
    SIGTERM, SIGHUP or SIGINT, for a loop that a raised ``KeyboardInterrupt`` could miss
    (a WSGI server swallows it when it lands inside a request)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        stop()

    previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def stop_group(proc: subprocess.Popen[Any], grace: float = GRACE_S) -> None:
    """SIGTERM to the child's whole process group, SIGKILL to what is left of it after
    ``grace`` seconds (grandchildren such as uvicorn's workers are stopped too)."""
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc.poll() is not None and not _group_alive(proc.pid):
            return
        time.sleep(0.1)
    _signal_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def run_in_group(cmd: list[str]) -> int:
    """Run ``cmd`` in the foreground in a process group of its own until it exits or we are
    told to stop (SIGINT, SIGTERM, SIGHUP), then stop the whole group. Returns its exit
    code, or 0 when we stopped it."""
    with stop_signals_as_interrupt():
        proc = subprocess.Popen(cmd, start_new_session=True)
        try:
            return proc.wait()
        except KeyboardInterrupt:
            stop_group(proc)
            return 0
        finally:
            if proc.poll() is None:  # any other way out: never leave it behind
                stop_group(proc)
