"""Liveness on the default (journal) store: a ``kill -9``'d ``sweeps run`` leaves nothing
RUNNING once any command looks, and its trial is retried like on PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import optuna
from mlflow import MlflowClient
from optuna.trial import TrialState

from sweeps.runner.liveness import owner_gone, owner_record, process_start
from sweeps.store import accounted_trials, load_existing, resolve_store
from sweeps.store.schema import ATTR_OWNER, ATTR_REASON, ATTR_RUN_ID, TAG_REASON, TAG_RETRY_OF
from tests.sweeps.procs import interrupt_when, start_cli

Retry = optuna.storages.RetryHeartbeatStaleTrialCallback


def test_owner_is_this_process_a_dead_one_or_a_reused_pid() -> None:
    me = owner_record()
    assert me["pid"] == os.getpid() and me["started"] == process_start(os.getpid())
    assert not owner_gone(me)
    assert owner_gone({**me, "started": me["started"] - 1})  # same pid, another process
    proc = subprocess.Popen(["sleep", "30"])
    other = {"host": socket.gethostname(), "pid": proc.pid, "started": process_start(proc.pid)}
    assert not owner_gone(other)
    proc.kill()
    deadline = time.monotonic() + 10  # the signal is delivered asynchronously
    while not owner_gone(other) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert owner_gone(other)  # a zombie (not yet waited for) is gone too
    assert proc.poll() is not None
    proc.wait()
    assert owner_gone(other)
    assert not owner_gone({**other, "host": "elsewhere"})  # judged by heartbeats, not here
    assert not owner_gone(None)


def test_kill9_mid_trial_is_reaped_by_status_and_retried_by_the_next_run(
    cli, write_space, tmp_path: Path
) -> None:
    # 150 epochs: trial 0 cannot finish before the kill.
    space = write_space("k9", study={"trials": 2}, params={"epochs": 150, "batch_size": 50})
    root = tmp_path / "mlruns"
    proc = start_cli("run", space, "--root", root, "--engine", "single", "-q", cwd=tmp_path)
    store = resolve_store(root=root)
    interrupt_when(
        proc,
        "k9",
        store,
        lambda trials: bool(
            trials and trials[0].intermediate_values and ATTR_OWNER in trials[0].user_attrs
        ),
        within=120,
        never="trial 0 never reached its first epoch",
        timeout=30,
        sig=signal.SIGKILL,
    )
    (trial,) = load_existing("k9", store).get_trials()
    assert trial.state == TrialState.RUNNING  # what kill -9 leaves, until someone looks
    run_id = trial.user_attrs[ATTR_RUN_ID]
    client = MlflowClient(store.tracking_uri)
    assert client.get_run(run_id).info.status == "RUNNING"

    res = cli("status", "k9", "--root", root)
    assert res.code == 0, res
    dead, retry = load_existing("k9", store).get_trials()
    assert dead.state == TrialState.FAIL
    assert dead.user_attrs["outcome"] == "killed"
    assert f":{proc.pid} is gone" in dead.user_attrs[ATTR_REASON]
    assert retry.state == TrialState.WAITING and Retry.retried_trial_number(retry) == 0
    assert ATTR_OWNER not in retry.user_attrs  # nobody's until a worker asks it
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    assert "is gone" in run.data.tags[TAG_REASON]
    assert accounted_trials(load_existing("k9", store)) == 1

    shown = res.out.split("outcome")[0]
    assert "RUNNING" not in shown and "FAIL" in shown and "WAITING" in shown, res.out
    assert "killed" in res.out.split("outcome")[1], res.out

    res = cli("status", "k9", "--root", root)  # looking again changes nothing
    assert len(load_existing("k9", store).get_trials()) == 2

    res = cli("run", space, "--root", root, "-n", "1", "--engine", "single", "-q")
    assert res.code == 0, res
    trials = load_existing("k9", store).get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]
    new = client.get_run(trials[1].user_attrs[ATTR_RUN_ID])
    assert new.data.tags[TAG_RETRY_OF] == run_id
    exp = client.get_experiment_by_name("k9")
    assert exp is not None
    assert not [r for r in client.search_runs([exp.experiment_id]) if r.info.status == "RUNNING"]
