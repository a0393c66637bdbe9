"""``sweeps`` as a real process: its command line and environment, and Ctrl-C mid-trial."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial

from sweeps.store import load_existing

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "sweeps.cli"]


def cli_env(**extra: str) -> dict[str, str]:
    """This process's environment (as it is now) plus ``extra``, with the project importable."""
    return {**os.environ, **extra, "PYTHONPATH": str(ROOT)}


def start_cli(*args: str | Path, cwd: Path) -> subprocess.Popen[bytes]:
    """``sweeps ARGS`` in a new process, stdout and stderr piped."""
    return subprocess.Popen(
        [*CLI, *(str(a) for a in args)],
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def interrupt_when(
    proc: subprocess.Popen[bytes],
    study: str,
    store: Any,
    ready: Callable[[list[FrozenTrial]], bool],
    *,
    within: float,
    never: str,
    timeout: float,
    sig: int = signal.SIGINT,
) -> tuple[bytes, bytes]:
    """Wait until ``ready(trials of study)``, then send ``proc`` ``sig`` (Ctrl-C unless
    told); its (stdout, stderr).

    Fails when ``proc`` exits first or ``within`` seconds pass (with ``never``); the process
    is killed if it is still running when this returns or fails.
    """
    deadline = time.monotonic() + within
    try:
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, never
            try:
                trials = load_existing(study, store).get_trials()
            except Exception:
                trials = []
            if ready(trials):
                break
            time.sleep(0.3)
        proc.send_signal(sig)
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
