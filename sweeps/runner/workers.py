"""``sweeps run --workers N``: N local ``sweeps worker`` processes sharing one study.

The parent opens the study, the MLflow experiment and the parent run once (so the
workers never race to create them), starts the workers, prints their output line by
line prefixed with ``[wK]``, and then a summary per worker. Ctrl-C (or SIGTERM, SIGHUP) is
forwarded as one SIGINT to each worker, which ends its current trial cleanly (FAIL,
run KILLED) and exits 130; a worker that does not stop within ``GRACE_S`` seconds is
terminated. The exit code is 0 when every worker exited 0, 130 when interrupted,
otherwise the first worker's non-zero code.

Workers receive the store through environment variables (``SWEEPS_ROOT``,
``SWEEPS_STORAGE``, ``SWEEPS_TRACKING_URI``), never on their command line, so a password
in a database URL does not show up in ``ps``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from rich.console import Console

from sweeps.procs import stop_signals_as_interrupt
from sweeps.space import SearchSpace
from sweeps.store import Store

GRACE_S = 60.0
"""Seconds a worker gets to end its trial after SIGINT before it is terminated."""


@dataclass
class Worker:
    index: int
    trials: int | None
    proc: subprocess.Popen[bytes]
    threads: list[threading.Thread] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"w{self.index}"


def worker_space(space: SearchSpace) -> SearchSpace:
    """The space with this worker's own sampler seed, derived from ``study.seed`` and
    ``host:pid``: workers seeded alike would all sample the same points."""
    import dataclasses
    import zlib

    from sweeps.runner.liveness import worker_id

    seed = space.settings.seed
    if seed is None:
        return space
    mixed = zlib.crc32(f"{seed}:{worker_id()}".encode()) & 0x7FFFFFFF
    return dataclasses.replace(space, settings=dataclasses.replace(space.settings, seed=mixed))


def split_trials(trials: int | None, workers: int) -> list[int | None]:
    """Share ``trials`` between ``workers`` (None: every worker tops the study up)."""
    if trials is None:
        return [None] * workers
    shares = [trials // workers + (1 if i < trials % workers else 0) for i in range(workers)]
    return [s for s in shares if s > 0]


def worker_command(
    space_path: Path, study: str, engine: str, trials: int | None, timeout: float | None = None
) -> list[str]:
    cmd = [sys.executable, "-m", "sweeps.cli", "worker", str(space_path), "--study", study]
    cmd += ["--engine", engine]
    if trials is not None:
        cmd += ["--trials", str(trials)]
    if timeout is not None:
        cmd += ["--timeout", f"{timeout:g}s"]
    return cmd


def worker_env(store: Store) -> dict[str, str]:
    """The parent's environment with the store spelled out for the workers."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env["SWEEPS_ROOT"] = str(store.root)
    if store.is_rdb:
        env["SWEEPS_STORAGE"] = store.storage_url
    else:
        env.pop("SWEEPS_STORAGE", None)
    if store.tracking_uri != f"sqlite:///{store.root / 'mlflow.db'}":
        env["SWEEPS_TRACKING_URI"] = store.tracking_uri
    else:
        env.pop("SWEEPS_TRACKING_URI", None)
    return env


def run_local_workers(
    space_path: Path,
    space: SearchSpace,
    store: Store,
    *,
    workers: int,
    trials: int | None,
    engine: str,
    console: Console,
    quiet: bool,
    timeout: float | None = None,
) -> int:
    """Run the study with ``workers`` local processes; returns the exit code."""
    from sweeps.runner.liveness import reap_stale
    from sweeps.store import Tracker, open_study

    name = space.settings.name
    store.optuna  # noqa: B018 - both stores reachable? checked before either is written to
    store.mlflow  # noqa: B018
    study = open_study(space, store)  # create (or check) the study once, before any worker
    tracker = Tracker(store, name)  # ... and the MLflow experiment and parent run
    reap_stale(study, tracker)
    shares = split_trials(trials, workers)
    what = f"{trials} trial(s)" if trials is not None else f"up to {space.settings.trials} trials"
    console.print(
        f"study '{name}' in {store.describe()}: {len(shares)} worker(s), {what}", markup=False
    )
    env = worker_env(store)
    err = Console(stderr=True, highlight=False)
    started: list[Worker] = []
    interrupted = False
    with stop_signals_as_interrupt():
        try:
            for i, share in enumerate(shares, start=1):
                proc = subprocess.Popen(
                    worker_command(space_path, name, engine, share, timeout),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,  # Ctrl-C reaches them once, through us
                )
                w = Worker(i, share, proc)
                assert proc.stdout is not None and proc.stderr is not None
                w.threads = [
                    _pump(proc.stdout, console if not quiet else None, w.label),
                    _pump(proc.stderr, err, w.label),
                ]
                started.append(w)
            while any(w.proc.poll() is None for w in started):
                time.sleep(0.2)
        except KeyboardInterrupt:
            interrupted = True
            err.print(f"interrupted: stopping {len(started)} worker(s) (each ends its trial)")
            _stop_all(started, err)
    for w in started:
        for t in w.threads:
            t.join(timeout=5)
    codes = [w.proc.returncode for w in started]
    try:  # the workers end it too, unless none of them got that far
        tracker.end_parent()
    except Exception as exc:  # pragma: no cover - the store went away meanwhile
        err.print(f"warning: could not end the parent run ({type(exc).__name__})")
    _summary(started, name, store, console)
    if interrupted or any(c in (130, -signal.SIGINT) for c in codes):
        err.print(
            f"interrupted: the workers' current trials were ended; resume with the same "
            f"command (study '{name}')"
        )
        return 130
    failed = [w for w in started if w.proc.returncode != 0]
    if failed:
        first = failed[0].proc.returncode
        labels = ", ".join(f"{w.label} (exit {w.proc.returncode})" for w in failed)
        err.print(f"error: {len(failed)} of {len(started)} worker(s) failed: {labels}")
        return first if first and first > 0 else 1
    return 0


def _pump(stream: IO[bytes], out: Console | None, label: str) -> threading.Thread:
    """Copy a worker's output line by line, prefixed (or drop it when ``out`` is None)."""

    def run() -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if out is not None and line:
                out.print(f"[{label}] {line}", markup=False, highlight=False, soft_wrap=True)
        stream.close()

    thread = threading.Thread(target=run, name=f"sweeps-{label}-pump", daemon=True)
    thread.start()
    return thread


def _stop_all(workers: list[Worker], err: Console) -> None:
    """One SIGINT to each running worker, then wait; terminate whoever lingers."""
    for w in workers:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + GRACE_S
    try:
        for w in workers:
            left = max(deadline - time.monotonic(), 0.1)
            try:
                w.proc.wait(timeout=left)
            except subprocess.TimeoutExpired:
                err.print(f"[{w.label}] did not stop within {GRACE_S:.0f}s: terminating")
                w.proc.terminate()
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
        for w in workers:
            if w.proc.poll() is None:
                w.proc.terminate()
    for w in workers:
        try:
            w.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            w.proc.kill()
            w.proc.wait()


def _summary(workers: list[Worker], name: str, store: Store, console: Console) -> None:
    """One line per worker: exit code and its trials by state (from the study)."""
    from sweeps.store import load_existing
    from sweeps.store.schema import ATTR_WORKER

    try:
        trials = load_existing(name, store).get_trials(deepcopy=False)
    except Exception:  # the summary must never hide the workers' exit codes
        trials = []
    by_worker: dict[str, Counter[str]] = {}
    for t in trials:
        owner = str(t.user_attrs.get(ATTR_WORKER, ""))
        by_worker.setdefault(owner, Counter())[t.state.name.lower()] += 1
    host = socket.gethostname()
    for w in workers:
        counts = by_worker.get(f"{host}:{w.proc.pid}", Counter())
        states = " ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "no trials"
        console.print(
            f"worker {w.label} (pid {w.proc.pid}): exit {w.proc.returncode}, "
            f"{sum(counts.values())} trial(s) {states}",
            markup=False,
        )
