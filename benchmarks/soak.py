"""Soak: workers killed again and again and a tracking-server restart lose nothing.

Optuna on PostgreSQL, an ``mlflow server`` on PostgreSQL, ``--workers`` ``sweeps worker``
processes topping one study up to ``--trials`` trials on the embedded data (mnist-mini).
Every ``--kill-every`` seconds (the first time at the latest when the first trial is in) a
random worker is SIGKILLed and a replacement started (as a cluster scheduler would); once,
when half the trials are accounted, the MLflow server is SIGKILLed and started again
``--outage`` seconds later (the kills resume ``--kill-every`` seconds after it is back). A
worker that exits with an error (one that starts while the server is down refuses to) is
started again, as a scheduler restarts a failed job. When the last worker has exited,
``sweeps status`` is run once (as a user would) and the stores are read back.

Printed: trials requested / accounted / duplicated / lost / left RUNNING, MLflow runs left
RUNNING, runs missing epochs or their final status, kills, wall time. Goal: exactly
``--trials`` accounted, 0 duplicated, 0 lost, 0 RUNNING, 0 runs RUNNING, 0 runs missing
metrics (exit code 0 when met, 1 otherwise).

* accounted: :func:`sweeps.store.accounted_trials` (a dead trial counts once, through
  its retry);
* duplicated: a requested trial (a trial and its retries) that finished more than once;
* lost: a requested trial that never finished (retries exhausted, or still queued);
* missing epochs: a finished trial whose run lacks a ``loss`` value for one of its epochs.

Usage::

    python benchmarks/soak.py [--trials 200] [--workers 4] [--kill-every 30]
        [--outage 20] [--epochs 3] [--seed 0] [--keep]

PostgreSQL: ``SWEEPS_TEST_PG_HOST`` / ``_PORT`` / ``_USER`` (default 127.0.0.1:5432,
postgres, trust auth); two throw-away databases are created and dropped (``--keep``
keeps them and the work directory).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._mlflow_server import MlflowServer  # noqa: E402
from benchmarks._pg import (  # noqa: E402
    PG_HOST,
    PG_PORT,
    PG_USER,
    create_database,
    drop_databases,
)

STUDY = "soak"


@dataclass(frozen=True)
class SoakSettings:
    trials: int = 200
    workers: int = 4
    kill_every: float = 30.0
    outage: float = 20.0
    epochs: int = 3
    seed: int = 0
    heartbeat: tuple[int, int] = (2, 10)
    """(interval, grace period) in seconds for the workers."""
    keep: bool = False
    budget_s: float = 3600.0
    """Give up (and say so) after this long."""


@dataclass(frozen=True)
class SoakResult:
    requested: int
    accounted: int
    duplicated: int
    lost: int
    left_running: int
    left_waiting: int
    runs_running: int
    runs_missing_epochs: int
    runs_without_final_status: int
    states: dict[str, int] = field(default_factory=dict)
    kills: int = 0
    restarts: int = 0
    """Workers that exited with an error (one starting while the server was down refuses
    to start) and were started again, as a scheduler restarts a failed job."""
    outage_s: float = 0.0
    wall_s: float = 0.0
    timed_out: bool = False

    def goal_met(self) -> bool:
        return (
            not self.timed_out
            and self.accounted == self.requested
            and self.duplicated == 0
            and self.lost == 0
            and self.left_running == 0
            and self.runs_running == 0
            and self.runs_missing_epochs == 0
            and self.runs_without_final_status == 0
        )

    def table(self) -> str:
        rows = [
            ("trials requested", self.requested),
            ("trials accounted", self.accounted),
            ("trials duplicated", self.duplicated),
            ("trials lost", self.lost),
            ("trials left RUNNING", self.left_running),
            ("trials left WAITING", self.left_waiting),
            ("MLflow runs left RUNNING", self.runs_running),
            ("runs missing epochs", self.runs_missing_epochs),
            ("runs without final status", self.runs_without_final_status),
            ("trial states", " ".join(f"{k}={v}" for k, v in sorted(self.states.items()))),
            ("workers SIGKILLed", self.kills),
            ("workers restarted after an error", self.restarts),
            ("MLflow server down (s)", f"{self.outage_s:.1f}"),
            ("wall time (s)", f"{self.wall_s:.1f}"),
            ("goal met", "yes" if self.goal_met() else "NO" + (" (timed out)" * self.timed_out)),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


# -- PostgreSQL ------------------------------------------------------------------------------


@contextmanager
def pg_databases(*labels: str, keep: bool = False) -> Iterator[list[str]]:
    """Fresh databases (URLs), dropped afterwards unless ``keep``."""
    names = [create_database("sweeps_soak", label, connect_timeout=5) for label in labels]
    try:
        yield [f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{n}" for n in names]
    finally:
        if not keep:
            drop_databases(names, connect_timeout=5)


# -- the soak --------------------------------------------------------------------------------


def write_space(path: Path, settings: SoakSettings) -> Path:
    content = {
        "study": {
            "name": STUDY,
            "sampler": "random",
            "seed": settings.seed,
            "pruner": "none",
            "trials": settings.trials,
        },
        "params": {
            "dataset": "mnist-mini",
            "hidden_layers": [16],
            "activation": "relu",
            "optimizer": "adam",
            "learning_rate": {"type": "float", "low": 0.0005, "high": 0.01, "log": True},
            "batch_size": 100,
            "epochs": settings.epochs,
            "seed": 0,
        },
    }
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


class Pool:
    """``sweeps worker`` processes, their output in files."""

    def __init__(self, space: Path, work: Path, env: dict[str, str]) -> None:
        self.space, self.work, self.env = space, work, env
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        log = self.work / f"worker-{len(self.procs)}.log"
        with open(log, "wb") as fh:
            self.procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "sweeps.cli", "worker", str(self.space), "-q"],
                    cwd=self.work,
                    env=self.env,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def restart_failed(self, replaced: set[int]) -> list[int]:
        """Start a replacement for each worker that exited with an error and has none yet
        (``replaced``: the pids that have one, the SIGKILLed ones included); their pids."""
        failed = [p for p in self.procs if p.returncode not in (None, 0) and p.pid not in replaced]
        for p in failed:
            replaced.add(p.pid)
            self.start()
        return [p.pid for p in failed]

    def kill_all(self) -> None:
        for p in self.alive():
            p.kill()
            p.wait()


def soak(settings: SoakSettings, log: Any = print) -> SoakResult:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="sweeps-soak-"))
    rng = random.Random(settings.seed)
    with pg_databases("optuna", "mlflow", keep=settings.keep) as (optuna_url, mlflow_url):
        server = MlflowServer(mlflow_url, work)
        server.start()
        interval, grace = settings.heartbeat
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": "1",
            "SWEEPS_STORAGE": optuna_url,
            "SWEEPS_TRACKING_URI": server.uri,
            "SWEEPS_ROOT": str(work / "mlruns"),
            "SWEEPS_HEARTBEAT_INTERVAL": str(interval),
            "SWEEPS_GRACE_PERIOD": str(grace),
        }
        space = write_space(work / "soak.yaml", settings)
        pool = Pool(space, work, env)
        kills, restarts, outage_s, timed_out = 0, 0, 0.0, False
        replaced: set[int] = set()  # pids that have had their replacement
        try:
            for _ in range(settings.workers):
                pool.start()
            next_kill = time.monotonic() + settings.kill_every
            outage_done = False
            while True:
                for pid in pool.restart_failed(replaced):
                    restarts += 1
                    log(f"[soak] worker pid {pid} exited with an error; started again")
                if not pool.alive():
                    break
                if time.monotonic() - started > settings.budget_s:
                    timed_out = True
                    break
                accounted = _accounted(optuna_url)
                if not outage_done and accounted * 2 >= settings.trials:
                    log(f"[soak] stopping the MLflow server for {settings.outage:.0f}s")
                    down = time.monotonic()
                    server.stop()
                    time.sleep(settings.outage)
                    server.start()
                    outage_s = time.monotonic() - down
                    outage_done = True
                    log(f"[soak] MLflow server back after {outage_s:.1f}s")
                    next_kill = time.monotonic() + settings.kill_every  # no overdue burst
                # the first kill comes with the first trial in at the latest: a short soak
                # whose trials outrun the clock still kills a worker in the middle of one
                if time.monotonic() >= next_kill or (kills == 0 and accounted >= 1):
                    alive = pool.alive()
                    if alive:
                        victim = rng.choice(alive)
                        victim.send_signal(signal.SIGKILL)
                        victim.wait()
                        replaced.add(victim.pid)
                        kills += 1
                        pool.start()
                        log(f"[soak] SIGKILLed worker pid {victim.pid}; replacement started")
                    next_kill = time.monotonic() + settings.kill_every
                time.sleep(0.5)
        finally:
            pool.kill_all()
        # a user looks once: the same command that reaps anything left behind
        subprocess.run(
            [sys.executable, "-m", "sweeps.cli", "status", STUDY],
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=300,
        )
        result = measure(optuna_url, server.uri, settings.trials)
        server.stop()
    if not settings.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return SoakResult(
        **{
            **result.__dict__,
            "kills": kills,
            "restarts": restarts,
            "outage_s": outage_s,
            "wall_s": time.monotonic() - started,
            "timed_out": timed_out,
        }
    )


def _accounted(optuna_url: str) -> int:
    import optuna

    from sweeps.store import accounted_trials

    try:
        return accounted_trials(optuna.load_study(study_name=STUDY, storage=optuna_url))
    except Exception:  # not created yet
        return 0


def measure(optuna_url: str, tracking_uri: str, requested: int) -> SoakResult:
    """Read both stores back and count against the goal."""
    import optuna
    from mlflow import MlflowClient
    from optuna.trial import TrialState

    from sweeps.store import accounted_trials
    from sweeps.store.schema import ATTR_EPOCHS_RUN, ATTR_RUN_ID

    retry = optuna.storages.RetryHeartbeatStaleTrialCallback
    study = optuna.load_study(study_name=STUDY, storage=optuna_url)
    trials = study.get_trials(deepcopy=False)
    groups: dict[int, list[optuna.trial.FrozenTrial]] = defaultdict(list)
    for t in trials:
        origin = retry.retried_trial_number(t)
        groups[t.number if origin is None else origin].append(t)
    ok = (TrialState.COMPLETE, TrialState.PRUNED)

    def finished(t: optuna.trial.FrozenTrial) -> bool:
        """Ran to an end: complete, pruned, or failed by its own error (a trial failed
        because its worker died has no outcome, or ``killed``)."""
        if t.state in ok:
            return True
        return t.state == TrialState.FAIL and t.user_attrs.get("outcome") not in (None, "killed")

    done_per_group = [sum(1 for t in g if finished(t)) for g in groups.values()]
    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(STUDY)
    runs = client.search_runs([exp.experiment_id], max_results=5000) if exp else []
    missing = wrong_status = 0
    for t in trials:
        if t.state not in ok:
            continue
        run_id = t.user_attrs.get(ATTR_RUN_ID)
        if not run_id:
            missing += 1
            continue
        epochs = int(t.user_attrs.get(ATTR_EPOCHS_RUN, 0))
        steps = {m.step for m in client.get_metric_history(run_id, "loss")}
        if not set(range(1, epochs + 1)) <= steps or epochs == 0:
            missing += 1
        if client.get_run(run_id).info.status != "FINISHED":
            wrong_status += 1
    states = Counter(t.state.name for t in trials)
    return SoakResult(
        requested=requested,
        accounted=accounted_trials(study),
        duplicated=sum(1 for n in done_per_group if n > 1),
        lost=sum(1 for n in done_per_group if n == 0),
        left_running=states.get("RUNNING", 0),
        left_waiting=states.get("WAITING", 0),
        runs_running=sum(1 for r in runs if r.info.status == "RUNNING"),
        runs_missing_epochs=missing,
        runs_without_final_status=wrong_status,
        states=dict(states),
    )


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore", message=".*is experimental.*")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kill-every", type=float, default=30.0)
    parser.add_argument("--outage", type=float, default=20.0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heartbeat", default="2,10", help="interval,grace in seconds")
    parser.add_argument("--budget", type=float, default=3600.0, help="give up after (s)")
    parser.add_argument("--keep", action="store_true", help="keep databases and work dir")
    args = parser.parse_args(argv)
    interval, grace = (int(x) for x in args.heartbeat.split(","))
    settings = SoakSettings(
        trials=args.trials,
        workers=args.workers,
        kill_every=args.kill_every,
        outage=args.outage,
        epochs=args.epochs,
        seed=args.seed,
        heartbeat=(interval, grace),
        keep=args.keep,
        budget_s=args.budget,
    )
    print(
        f"soak: {settings.trials} trials, {settings.workers} workers, a SIGKILL every "
        f"{settings.kill_every:.0f}s, one MLflow outage of {settings.outage:.0f}s, "
        f"{settings.epochs} epoch(s) per trial on mnist-mini; Optuna and MLflow on PostgreSQL"
    )
    result = soak(settings)
    print(result.table())
    return 0 if result.goal_met() else 1


if __name__ == "__main__":
    sys.exit(main())
