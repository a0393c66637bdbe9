"""Surviving faults: kill -9'd workers on PostgreSQL, heartbeats, Ctrl-C mid-trial.

The kill test runs real ``sweeps worker`` processes on one study (Optuna on PostgreSQL,
MLflow's SQLAlchemy store on another PostgreSQL database), SIGKILLs one in the middle of
a trial again and again (starting a replacement each time) and checks that nothing is
lost: every requested trial is complete or pruned, each killed trial was failed as stale
and retried in a run of its own linked to the killed run, which is ended KILLED, no run
is left RUNNING, and the study resumes. Heartbeat interval and grace period come from
``SWEEPS_HEARTBEAT_INTERVAL`` / ``SWEEPS_GRACE_PERIOD`` so it runs in bounded time.
"""

from __future__ import annotations

import functools
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from sweeps.runner.liveness import ATTR_WORKER, reap_stale, trial_heartbeat
from sweeps.runner.session import TrialSession
from sweeps.runner.single import run_trial
from sweeps.space import SearchSpace, load_space
from sweeps.store import (
    Store,
    Tracker,
    accounted_trials,
    load_existing,
    open_study,
    resolve_store,
    with_pg_driver,
)
from sweeps.store.schema import TAG_RETRY_OF, TAG_ROLE, TAG_TRIAL
from tests.sweeps.pg import pg_databases, url
from tests.sweeps.procs import CLI, cli_env, interrupt_when, start_cli

__all__ = ["pg_databases"]  # the fixture, imported for pytest

Retry = optuna.storages.RetryHeartbeatStaleTrialCallback
FAST_HEARTBEAT = {"SWEEPS_HEARTBEAT_INTERVAL": "1", "SWEEPS_GRACE_PERIOD": "6"}


def _rdb(storage_url: str) -> optuna.storages.RDBStorage:
    return optuna.storages.RDBStorage(with_pg_driver(storage_url))


class _Beating(NamedTuple):
    storage: str
    store: Store
    space: SearchSpace
    study: optuna.Study
    tracker: Tracker
    trial: optuna.Trial


def _beating_study(
    name: str, pg_databases: Any, write_space: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> _Beating:
    """A one-trial study on a fresh PostgreSQL database, heartbeats every second and a
    2 s grace period, and its trial asked (not yet beating)."""
    monkeypatch.setenv("SWEEPS_HEARTBEAT_INTERVAL", "1")
    monkeypatch.setenv("SWEEPS_GRACE_PERIOD", "2")
    storage = url(pg_databases(name))
    store = resolve_store(storage=storage, root=tmp_path / "mlruns")
    space = load_space(write_space(name, study={"trials": 1}))
    study = open_study(space, store)
    tracker = Tracker(store, name)
    trial = study.ask(fixed_distributions=space.distributions)
    return _Beating(storage, store, space, study, tracker, trial)


# -- heartbeats, in-process ------------------------------------------------------------


@pytest.mark.postgres
def test_live_trial_keeps_beating_dead_one_is_failed_retried_and_its_run_killed(
    pg_databases, write_space, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, store, space, study, tracker, trial = _beating_study(
        "hb", pg_databases, write_space, tmp_path, monkeypatch
    )
    with trial_heartbeat(store.optuna, study, trial):
        session = TrialSession(study, space, tracker, trial)
        time.sleep(3.5)  # longer than the grace period: only the heartbeat keeps it alive
        reap_stale(study, tracker)
        assert study.get_trials()[0].state == TrialState.RUNNING
        assert study.get_trials()[0].user_attrs[ATTR_WORKER].endswith(f":{os.getpid()}")
    # the "worker" dies here: no more heartbeats, never told
    time.sleep(3.5)
    reap_stale(study, tracker)
    dead, retry = study.get_trials()
    assert dead.state == TrialState.FAIL
    assert retry.state == TrialState.WAITING and Retry.retried_trial_number(retry) == 0
    run = tracker.client.get_run(session.run_id)
    assert run.info.status == "KILLED"
    assert run.data.tags["sweeps.outcome"] == "killed"
    assert accounted_trials(study) == 1  # the retry stands for the dead trial

    report = run_trial(study, space, tracker)  # the next ask picks up the retry
    assert report.number == 1 and report.state == "COMPLETE"
    new = tracker.client.get_run(study.get_trials()[1].user_attrs["mlflow_run_id"])
    assert new.info.run_id != session.run_id
    assert new.data.tags[TAG_RETRY_OF] == session.run_id
    assert new.data.tags["sweeps.retry_of_trial"] == "0"
    assert new.info.status == "FINISHED"
    assert accounted_trials(study) == 1


# -- kill -9 of workers, out of process ------------------------------------------------


class Workers:
    """``sweeps worker`` processes on one study, their output kept in files."""

    def __init__(self, space: Path, tmp: Path, env: dict[str, str], args: list[str]) -> None:
        self.space, self.tmp, self.env, self.args = space, tmp, env, args
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = self.tmp / f"worker-{len(self.procs)}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                [*CLI, "worker", str(self.space), *self.args],
                cwd=self.tmp,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def stop_all(self) -> None:
        for p in self.alive():
            p.kill()
            p.wait()

    def tails(self) -> str:
        return "\n".join(
            f"--- {log.name} (exit {p.returncode}):\n"
            + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            for p, log in zip(self.procs, self.logs, strict=True)
        )


def _mid_trial(study: optuna.Study, pid: int) -> optuna.trial.FrozenTrial | None:
    """A trial that worker ``pid`` is training, past its first epoch, with its run."""
    me = f"{socket.gethostname()}:{pid}"
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        mine = t.user_attrs.get(ATTR_WORKER) == me
        if mine and t.intermediate_values and t.user_attrs.get("mlflow_run_id"):
            return t
    return None


@pytest.fixture
def fault_run(
    pg_databases: Any,
    write_space: Any,
    tmp_path: Path,
    cli: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., None]:
    """:func:`_fault_run` on this test's fixtures, with fast heartbeats (here and in the
    workers): ``fault_run(n_workers=, kills=, target=, budget_s=)``."""
    for k, v in FAST_HEARTBEAT.items():
        monkeypatch.setenv(k, v)
    return functools.partial(
        _fault_run,
        pg_databases=pg_databases,
        write_space=write_space,
        tmp_path=tmp_path,
        cli=cli,
        capsys=capsys,
    )


def _fault_run(
    *,
    pg_databases: Any,
    write_space: Any,
    tmp_path: Path,
    cli: Any,
    capsys: pytest.CaptureFixture[str],
    n_workers: int,
    kills: int,
    target: int,
    budget_s: float,
) -> None:
    started = time.monotonic()
    optuna_url, mlflow_url = url(pg_databases("optuna")), url(pg_databases("mlflow"))
    space = write_space(
        "fault",
        study={"trials": target},
        params={
            "learning_rate": {"type": "float", "low": 0.001, "high": 0.05, "log": True},
            # long enough that a trial is still running when the test looks for one to
            # kill, even on a quiet machine (a 6-epoch trial could end between two looks)
            "epochs": 30,
            "batch_size": 50,
        },
    )
    env = cli_env(**FAST_HEARTBEAT)
    args = ["--storage", optuna_url, "--tracking-uri", mlflow_url, "--root", str(tmp_path)]
    pool = Workers(space, tmp_path, env, args)
    for _ in range(n_workers):  # all at once, on fresh databases: they must not race
        pool.start()
    study: optuna.Study | None = None
    killed: list[tuple[int, str]] = []  # (trial number, run id)
    try:
        while len(killed) < kills:
            late = time.monotonic() - started > budget_s
            assert not late, "no trial to kill in time\n" + pool.tails()
            if study is None:
                try:
                    study = optuna.load_study(study_name="fault", storage=_rdb(optuna_url))
                except KeyError:
                    time.sleep(0.5)
                    continue
            for proc in pool.alive():
                t = _mid_trial(study, proc.pid)
                if t is not None:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    killed.append((t.number, t.user_attrs["mlflow_run_id"]))
                    pool.start()  # a replacement, as a cluster scheduler would
                    break
            else:
                assert pool.alive(), "every worker exited before the kills\n" + pool.tails()
                time.sleep(0.3)
        for proc in pool.procs:
            left = budget_s - (time.monotonic() - started)
            proc.wait(timeout=max(left, 1))
    except subprocess.TimeoutExpired:
        pytest.fail(f"workers still running after {budget_s:.0f}s\n" + pool.tails())
    finally:
        pool.stop_all()
    codes = [p.returncode for p in pool.procs]
    assert codes.count(-signal.SIGKILL) == kills and all(
        c == 0 for c in codes if c != -signal.SIGKILL
    ), pool.tails()

    # -- every requested trial is accounted for ---------------------------------------
    study = optuna.load_study(study_name="fault", storage=_rdb(optuna_url))
    trials = study.get_trials()
    states = Counter(t.state.name for t in trials)
    retried = {n for t in trials for n in Retry.retry_history(t)}
    stale = [t for t in trials if t.state == TrialState.FAIL and t.number in retried]
    done = states["COMPLETE"] + states["PRUNED"]
    genuine_fail = states["FAIL"] - len(stale)
    lost = max(target - done - genuine_fail, 0)
    assert states["RUNNING"] == 0 and states["WAITING"] == 0, states
    assert {n for n, _ in killed} <= {t.number for t in stale}, (killed, stale)
    # topping up is atomic across workers (run/topup.py): exactly the target
    assert accounted_trials(study) == target
    assert lost == 0 and genuine_fail == 0, states

    # -- MLflow: one run per trial, none RUNNING, retries linked to the killed runs ---
    client = MlflowClient(with_pg_driver(mlflow_url))
    exp = client.get_experiment_by_name("fault")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    assert not [r.info.run_id for r in runs if r.info.status == "RUNNING"]
    children = [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]
    per_trial = Counter(r.data.tags[TAG_TRIAL] for r in children)
    assert all(n == 1 for n in per_trial.values()), per_trial  # no trial has two runs
    assert sorted(int(n) for n in per_trial) == sorted(t.number for t in trials)
    by_id = {r.info.run_id: r for r in children}
    for number, run_id in killed:
        assert by_id[run_id].info.status == "KILLED"
        assert int(by_id[run_id].data.tags[TAG_TRIAL]) == number
    by_number = {t.number: t for t in trials}
    for t in trials:
        history = Retry.retry_history(t)
        if not history:
            continue
        previous = by_number[history[-1]].user_attrs["mlflow_run_id"]
        run = by_id[t.user_attrs["mlflow_run_id"]]
        assert run.data.tags[TAG_RETRY_OF] == previous  # linked to the run it replaces
        assert by_id[previous].info.status == "KILLED"
    retries = sum(1 for t in trials if Retry.retry_history(t))
    assert retries == len(stale)

    # -- the study resumes --------------------------------------------------------------
    res = cli("run", space, "--trials", "2", *args, "--engine", "single", "-q")
    assert res.code == 0, res
    after = optuna.load_study(study_name="fault", storage=_rdb(optuna_url)).get_trials()
    assert len(after) == len(trials) + 2
    assert Counter(t.state.name for t in after[-2:]) == {"COMPLETE": 2}

    with capsys.disabled():
        print(
            f"\nfault test: workers={n_workers} (+{kills} replacements) kills={kills} "
            f"trials={target} (ran {done}) complete={states['COMPLETE']} pruned={states['PRUNED']} "
            f"failed-then-retried={len(stale)} lost={lost} "
            f"runs={len(children)} killed-runs={len(killed)} "
            f"({time.monotonic() - started:.0f}s)"
        )


@pytest.mark.postgres
@pytest.mark.slow
def test_three_workers_survive_three_kill9(fault_run) -> None:
    fault_run(n_workers=3, kills=3, target=16, budget_s=240)


@pytest.mark.postgres
def test_two_workers_survive_a_kill9(fault_run) -> None:
    """The default-suite variant: 2 workers, 1 kill."""
    fault_run(n_workers=2, kills=1, target=4, budget_s=150)


# -- Ctrl-C mid-trial ------------------------------------------------------------------


def test_sigint_mid_trial_ends_it_cleanly_and_the_study_resumes(
    cli, write_space, tmp_path: Path
) -> None:
    # 150 epochs: trial 0 cannot finish between the check below and the SIGINT.
    space = write_space("intr", study={"trials": 3}, params={"epochs": 150, "batch_size": 50})
    root = tmp_path / "mlruns"
    proc = start_cli("run", space, "--root", root, "--engine", "single", "-q", cwd=tmp_path)
    store = resolve_store(root=root)
    out, err = interrupt_when(  # once trial 0 has finished an epoch: we are mid-trial
        proc,
        "intr",
        store,
        lambda trials: bool(trials and trials[0].intermediate_values),
        within=120,
        never="trial 0 never reached its first epoch",
        timeout=60,
    )
    text = err.decode()
    assert proc.returncode == 130, (out.decode()[-2000:], text[-2000:])
    assert "Traceback" not in text
    assert "interrupted: the current trial was ended" in text

    study = load_existing("intr", store)
    (trial,) = study.get_trials()
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["outcome"] == "interrupted"
    assert "interrupted" in trial.user_attrs["reason"]
    client = MlflowClient(store.tracking_uri)
    exp = client.get_experiment_by_name("intr")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id])
    assert client.get_run(trial.user_attrs["mlflow_run_id"]).info.status == "KILLED"
    assert not [r for r in runs if r.info.status == "RUNNING"]

    res = cli("run", space, "--root", root, "--trials", "1", "--engine", "single", "-q")
    assert res.code == 0, res
    trials = load_existing("intr", store).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    runs = client.search_runs([exp.experiment_id])
    assert not [r for r in runs if r.info.status == "RUNNING"]


# -- whoever looks reaps -------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["status", pytest.param("trials", marks=pytest.mark.slow)])
def test_a_read_command_applies_the_heartbeat_rule_when_no_worker_is_left(
    pg_databases, write_space, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """The last worker died mid-trial and nobody else runs: ``sweeps status`` (or any
    command that loads the study) fails the silent trial, queues its retry and ends its
    run KILLED once the grace period is over; before that it leaves it alone."""
    storage, store, space, study, tracker, trial = _beating_study(
        "look", pg_databases, write_space, tmp_path, monkeypatch
    )
    with trial_heartbeat(store.optuna, study, trial):
        session = TrialSession(study, space, tracker, trial)
    # its "worker" stops beating here (its owner, this process, is alive: only the
    # heartbeat rule can tell)
    args = ["--storage", storage, "--root", str(tmp_path / "mlruns")]
    out = ["--out", str(tmp_path / "t.csv")] if command == "trials" else []
    res = cli(command, "look", *args, *out)
    assert res.code == 0, res
    assert [t.state for t in load_existing("look", store).get_trials()] == [TrialState.RUNNING]
    time.sleep(3)
    res = cli(command, "look", *args, *out)
    assert res.code == 0, res
    dead, retry = load_existing("look", store).get_trials()
    assert dead.state == TrialState.FAIL and retry.state == TrialState.WAITING
    assert Retry.retried_trial_number(retry) == 0
    run = tracker.client.get_run(session.run_id)
    assert run.info.status == "KILLED"
    assert run.data.tags["sweeps.outcome"] == "killed"
