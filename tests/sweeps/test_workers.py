"""Several processes on one study: ``sweeps run --workers N``, concurrent ``sweeps run``s on
the default local store, Ctrl-C to the parent, and credentials kept out of sight."""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from sweeps.runner import workers as workers_mod
from sweeps.runner.liveness import ATTR_WORKER
from sweeps.runner.workers import split_trials, worker_command, worker_env, worker_space
from sweeps.space import load_space
from sweeps.store import load_existing, redact, resolve_store, scrub
from sweeps.store.schema import TAG_ROLE, TAG_TRIAL
from tests.sweeps.pg import pg_databases, url
from tests.sweeps.procs import interrupt_when, start_cli

__all__ = ["pg_databases"]

FINISHED_OK = (TrialState.COMPLETE, TrialState.PRUNED)  # pruned: diverged, with its reason
LR = {"learning_rate": {"type": "float", "low": 0.001, "high": 0.05, "log": True}}


def _runs(root: Path, study: str) -> list:
    client = MlflowClient(resolve_store(root=root).tracking_uri)
    exp = client.get_experiment_by_name(study)
    assert exp is not None
    return list(client.search_runs([exp.experiment_id], max_results=1000))


def _one_run_per_trial(root: Path, study: str) -> None:
    trials = load_existing(study, resolve_store(root=root)).get_trials()
    runs = _runs(root, study)
    assert not [r.info.run_id for r in runs if r.info.status == "RUNNING"]
    children = [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]
    per_trial = Counter(int(r.data.tags[TAG_TRIAL]) for r in children)
    assert per_trial == Counter(t.number for t in trials), per_trial
    assert {t.user_attrs["mlflow_run_id"] for t in trials} == {r.info.run_id for r in children}
    assert len([r for r in runs if r.data.tags.get(TAG_ROLE) == "parent"]) == 1


# -- units ---------------------------------------------------------------------------------


def test_trials_are_shared_between_workers() -> None:
    assert split_trials(None, 3) == [None, None, None]
    assert split_trials(7, 3) == [3, 2, 2]
    assert split_trials(2, 4) == [1, 1]  # no idle worker is started


def test_workers_get_the_store_through_the_environment_not_argv(tmp_path: Path) -> None:
    secret = "s3cret-pw"
    store = resolve_store(
        storage=f"postgresql://alice:{secret}@db.example/sweeps",
        tracking_uri=f"postgresql://alice:{secret}@db.example/mlflow",
        root=tmp_path,
    )
    cmd = worker_command(tmp_path / "s.yaml", "s", "single", 3)
    assert secret not in " ".join(cmd)
    assert cmd[-2:] == ["--trials", "3"] and "worker" in cmd
    env = worker_env(store)
    assert env["SWEEPS_STORAGE"] == store.storage_url
    assert env["SWEEPS_TRACKING_URI"] == store.tracking_uri
    local = worker_env(resolve_store(root=tmp_path))
    assert "SWEEPS_STORAGE" not in local and "SWEEPS_TRACKING_URI" not in local
    assert local["SWEEPS_ROOT"] == str(tmp_path.resolve())


def test_each_worker_samples_with_its_own_seed(write_space, monkeypatch) -> None:
    space = load_space(write_space("seeded"))
    monkeypatch.setattr("sweeps.runner.liveness.worker_id", lambda: "host:1")
    a = worker_space(space)
    monkeypatch.setattr("sweeps.runner.liveness.worker_id", lambda: "host:2")
    b = worker_space(space)
    assert a.settings.seed != b.settings.seed
    assert a.fingerprint() == b.fingerprint() == space.fingerprint()  # same study


def test_exit_code_is_non_zero_when_a_worker_fails_and_output_is_prefixed(
    cli, write_space, tmp_path: Path, monkeypatch
) -> None:
    """Fake workers (tiny Python scripts) stand in for ``sweeps worker`` here."""
    scripts = iter(
        [
            "print('trial 0 done'); import sys; sys.exit(0)",
            "import sys; print('boom', file=sys.stderr); sys.exit(3)",
        ]
    )
    monkeypatch.setattr(
        workers_mod,
        "worker_command",
        lambda *a, **k: [sys.executable, "-c", next(scripts)],
    )
    space = write_space("fake")
    res = cli("run", space, "--workers", "2", "--root", tmp_path / "mlruns")
    assert res.code == 3, res
    assert "[w1] trial 0 done" in res.out
    assert "[w2] boom" in res.err
    assert "error: 1 of 2 worker(s) failed: w2 (exit 3)" in res.err
    assert "worker w1 (pid" in res.out and "exit 0" in res.out


# -- real workers on the default local store ---------------------------------------------


def test_run_with_two_workers_on_the_local_store(cli, write_space, tmp_path: Path) -> None:
    space = write_space("duo", study={"trials": 6}, params=LR)
    root = tmp_path / "mlruns"
    t0 = time.monotonic()
    res = cli("run", space, "--workers", "2", "--root", root, "--engine", "single")
    assert res.code == 0, res
    assert "2 worker(s), up to 6 trials" in res.out
    assert "[w1]" in res.out and "[w2]" in res.out
    assert res.out.count("): exit 0,") == 2
    assert "database is locked" not in res.err and "Traceback" not in res.err
    study = load_existing("duo", resolve_store(root=root))
    trials = study.get_trials()
    assert len(trials) >= 6 and all(t.state in FINISHED_OK for t in trials)
    assert len({t.user_attrs[ATTR_WORKER] for t in trials}) >= 1
    # workers seed their samplers apart: no point is sampled twice
    assert len({t.params["learning_rate"] for t in trials}) == len(trials)
    _one_run_per_trial(root, "duo")
    print(f"run --workers 2: {len(trials)} trials in {time.monotonic() - t0:.0f}s")


def test_two_concurrent_sweeps_run_on_a_fresh_local_store(write_space, tmp_path: Path) -> None:
    """Optuna's journal file and MLflow's SQLite file, two processes, one new study: the
    first to open the fresh database creates its tables while the other waits (no race on
    MLflow's migrations, no "database is locked"), and every trial has one run."""
    space = write_space("pair", study={"trials": 6}, params=LR)
    root = tmp_path / "mlruns"
    args = ["run", space, "--root", root, "--trials", "3", "--engine", "single", "-q"]
    procs = [start_cli(*args, cwd=tmp_path) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        text = err.decode()
        assert p.returncode == 0, (out.decode()[-2000:], text[-3000:])
        assert "database is locked" not in text and "Traceback" not in text, text[-3000:]
    trials = load_existing("pair", resolve_store(root=root)).get_trials()
    assert len(trials) == 6 and all(t.state in FINISHED_OK for t in trials)
    _one_run_per_trial(root, "pair")


def test_ctrl_c_to_run_workers_ends_every_trial_cleanly(write_space, tmp_path: Path) -> None:
    # Trials long enough (400 epochs) that none can finish between the check and SIGINT.
    space = write_space("stop", study={"trials": 4}, params={"epochs": 400, "batch_size": 50})
    root = tmp_path / "mlruns"
    args = ["run", space, "--workers", "2", "--root", root, "--engine", "single"]
    proc = start_cli(*args, cwd=tmp_path)
    store = resolve_store(root=root)

    def both_busy(trials: list) -> bool:  # both workers mid-trial (past an epoch)
        busy = [t for t in trials if t.state == TrialState.RUNNING and t.intermediate_values]
        return len(busy) == 2

    out, err = interrupt_when(
        proc, "stop", store, both_busy, within=180, never="workers never got going", timeout=120
    )
    text = err.decode()
    assert proc.returncode == 130, (out.decode()[-2000:], text[-2000:])
    assert "Traceback" not in text
    assert "interrupted: stopping 2 worker(s)" in text
    trials = load_existing("stop", store).get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    interrupted = [t for t in trials if t.user_attrs.get("outcome") == "interrupted"]
    states = [(t.number, t.state.name, t.user_attrs.get("outcome")) for t in trials]
    assert len(interrupted) == 2, states
    assert all(t.state == TrialState.FAIL for t in interrupted), states
    runs = {r.info.run_id: r for r in _runs(root, "stop")}
    assert all(runs[t.user_attrs["mlflow_run_id"]].info.status == "KILLED" for t in interrupted)
    assert not [r for r in runs.values() if r.info.status == "RUNNING"]


# -- exact counts ---------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.slow
def test_four_workers_topping_up_on_postgresql_take_exactly_the_target(
    cli, write_space, tmp_path: Path, pg_databases
) -> None:
    """Count-and-ask is atomic (the study's advisory lock): 4 workers started at once,
    each topping up the same study of 6 short trials, end with exactly 6, not 6 + 3."""
    storage = url(pg_databases("exact"))
    space = write_space("exact", study={"trials": 6}, params={**LR, "epochs": 1})
    root = tmp_path / "mlruns"
    res = cli(
        "run",
        space,
        "--workers",
        "4",
        "--storage",
        storage,
        "--root",
        root,
        "--engine",
        "single",
        "-q",
    )
    assert res.code == 0, res
    trials = load_existing("exact", resolve_store(storage=storage, root=root)).get_trials()
    assert len(trials) == 6, [(t.number, t.state.name) for t in trials]
    assert all(t.state in FINISHED_OK for t in trials)
    assert len({t.user_attrs[ATTR_WORKER] for t in trials}) >= 2  # they did share it
    runs = [r for r in _runs(root, "exact") if r.data.tags.get(TAG_ROLE) == "trial"]
    assert sorted(int(r.data.tags[TAG_TRIAL]) for r in runs) == list(range(6))
    assert not [r for r in runs if r.info.status == "RUNNING"]


# -- credentials --------------------------------------------------------------------------


def test_redact_and_scrub_hide_passwords() -> None:
    assert redact("postgresql://bob:pa55@h:5432/db") == "postgresql://bob:***@h:5432/db"
    assert redact("postgresql://bob:p@ss@h/db") == "postgresql://bob:***@h/db"
    assert redact("postgresql://h:5432/db") == "postgresql://h:5432/db"  # no password
    assert redact("http://u:tok@host:5000 and mysql://a:b@c/d") == (
        "http://u:***@host:5000 and mysql://a:***@c/d"
    )
    msg = 'FATAL: password authentication failed for user "bob" (password "pa55 w")'
    assert "pa55 w" not in scrub(msg, "postgresql://bob:pa55%20w@h/db")


def test_no_password_in_output_errors_or_mlflow(
    cli, write_space, tmp_path: Path, pg_databases
) -> None:
    """Trust auth ignores the password, so a URL with one works against the test server."""
    secret = "Sup3rSecretPw"
    storage = url(pg_databases("cred"), password=secret)
    space = write_space("cred", study={"trials": 1})
    root = tmp_path / "mlruns"
    res = cli("run", space, "--storage", storage, "--root", root, "--engine", "single")
    assert res.code == 0, res
    assert secret not in res.out + res.err
    assert "postgres:***@" in res.out  # the store the run announces, masked
    for run in _runs(root, "cred"):
        data = run.data
        assert secret not in repr(data.params) + repr(data.tags) + repr(data.metrics)
    study = load_existing("cred", resolve_store(storage=storage, root=root))
    assert secret not in repr(study.user_attrs)
    assert all(secret not in repr(t.user_attrs) for t in study.get_trials())
    res = cli("status", "cred", "--storage", storage, "--root", root)
    assert res.code == 0 and secret not in res.out + res.err
    # errors name the URL, masked
    for args in (
        ["--storage", f"postgresql://postgres:{secret}@127.0.0.1:1/nope"],
        ["--tracking-uri", f"http://user:{secret}@127.0.0.1:1"],
        ["--storage", f"redis://user:{secret}@127.0.0.1/0"],
    ):
        res = cli("run", space, *args, "--root", tmp_path / "other", "-q")
        assert res.code == 2, res
        assert secret not in res.out + res.err
        assert ":***@" in res.err and len(res.err.strip().splitlines()) == 1, res.err


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SWEEPS_HEARTBEAT_INTERVAL": "0"}, "SWEEPS_HEARTBEAT_INTERVAL: must be a whole number"),
        ({"SWEEPS_GRACE_PERIOD": "soon"}, "SWEEPS_GRACE_PERIOD: must be a whole number"),
        (
            {"SWEEPS_HEARTBEAT_INTERVAL": "5", "SWEEPS_GRACE_PERIOD": "5"},
            "SWEEPS_GRACE_PERIOD: must be longer than the heartbeat interval (5s), got 5",
        ),
    ],
)
def test_heartbeat_settings_are_checked(env, message, monkeypatch) -> None:
    from sweeps.errors import UserError
    from sweeps.store import heartbeat_settings

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        heartbeat_settings()


def test_heartbeat_settings_default(monkeypatch) -> None:
    from sweeps.store import GRACE_PERIOD, HEARTBEAT_INTERVAL, heartbeat_settings

    monkeypatch.delenv("SWEEPS_HEARTBEAT_INTERVAL", raising=False)
    monkeypatch.delenv("SWEEPS_GRACE_PERIOD", raising=False)
    assert heartbeat_settings() == (HEARTBEAT_INTERVAL, GRACE_PERIOD) == (10, 30)
