"""A tracking-server outage mid-sweep loses nothing: trials go on training while MLflow
writes are buffered and retried, and once the server is back every run has all its
epochs and its final status."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from benchmarks._mlflow_server import MlflowServer
from sweeps.store import load_existing, resolve_store
from sweeps.store.schema import ATTR_EPOCHS_RUN, ATTR_RUN_ID, TAG_ROLE
from tests.sweeps.pg import pg_databases

__all__ = ["pg_databases"]
from tests.sweeps.procs import start_cli

OUTAGE_S = 15


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_sweep_survives_a_tracking_server_outage(write_space, tmp_path: Path) -> None:
    server = MlflowServer(f"sqlite:///{tmp_path / 'server.db'}", tmp_path)
    server.start()
    space = write_space("outage", study={"trials": 4}, params={"epochs": 40, "batch_size": 50})
    root = tmp_path / "mlruns"
    proc = start_cli(
        "run", space, "--root", root, "--tracking-uri", server.uri, "--engine", "single", "-q",
        cwd=tmp_path,
    )  # fmt: skip
    store = resolve_store(root=root, tracking_uri=server.uri)
    trained_during = 0
    try:
        deadline = time.monotonic() + 180
        while True:  # mid-sweep: trial 1 is training
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "trial 1 never started"
            try:
                trials = load_existing("outage", store).get_trials()
            except Exception:
                trials = []
            if len(trials) >= 2 and trials[1].intermediate_values:
                break
            time.sleep(0.2)
        server.stop()
        down = time.monotonic()
        epochs_then = sum(len(t.intermediate_values) for t in trials)
        time.sleep(OUTAGE_S)
        now = load_existing("outage", store).get_trials()
        trained_during = sum(len(t.intermediate_values) for t in now) - epochs_then
        server.start()
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
        server_up = server.proc is not None
    assert server_up
    assert proc.returncode == 0, (out.decode()[-2000:], err.decode()[-3000:])
    assert trained_during > 0, "training stopped while the server was down"
    assert time.monotonic() - down > OUTAGE_S

    trials = load_existing("outage", store).get_trials()
    assert len(trials) == 4
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    client = MlflowClient(server.uri)
    try:
        for t in trials:
            run = client.get_run(t.user_attrs[ATTR_RUN_ID])
            assert run.info.status == "FINISHED", (t.number, run.info.status)
            epochs = t.user_attrs[ATTR_EPOCHS_RUN]
            for key in ("loss", "accuracy"):
                steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
                assert sorted(set(steps)) == list(range(1, epochs + 1)), (t.number, key, steps)
        exp = client.get_experiment_by_name("outage")
        assert exp is not None
        runs = client.search_runs([exp.experiment_id])
        assert not [r for r in runs if r.info.status == "RUNNING"]
        assert len([r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]) == 4
    finally:
        server.stop()


@pytest.mark.postgres
def test_postgresql_connections_dropped_while_idle_are_reopened(
    pg_databases, write_space, tmp_path: Path
) -> None:
    """The server (or a proxy, a failover) closes our idle pooled connections: the next
    trial reconnects (pool pre-ping, Optuna's and MLflow's) instead of crashing."""
    from sweeps.runner.single import run_trial
    from sweeps.space import load_space
    from sweeps.store import Tracker, open_study
    from tests.sweeps.pg import admin, url

    optuna_db, mlflow_db = pg_databases("ping"), pg_databases("pingml")
    store = resolve_store(storage=url(optuna_db), tracking_uri=url(mlflow_db), root=tmp_path)
    space = load_space(write_space("ping", study={"trials": 2}))
    study = open_study(space, store)
    tracker = Tracker(store, "ping")
    assert run_trial(study, space, tracker).state == "COMPLETE"
    conn = admin()
    try:
        cur = conn.cursor()
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname IN (%s, %s) AND pid <> pg_backend_pid()",
            (optuna_db, mlflow_db),
        )
        assert cur.rowcount >= 2  # both pools held a connection
    finally:
        conn.close()
    report = run_trial(study, space, tracker)
    assert report.state == "COMPLETE"
    tracker.end_parent()
    run = tracker.client.get_run(study.get_trials()[1].user_attrs[ATTR_RUN_ID])
    assert run.info.status == "FINISHED"
