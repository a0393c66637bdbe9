"""A new local MLflow store starts as a copy of a pre-migrated template database
(``sweeps.store._template``): the database MLflow would have built, in milliseconds."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient
from mlflow.store.db.utils import _get_latest_schema_revision

from sweeps.store import resolve_store
from sweeps.store._template import sqlite_file, template_path
from tests.sweeps.procs import cli_env


def _tables(db: Path) -> dict[str, Any]:
    """Schema (every object's SQL) and every table's rows; the experiments' timestamps
    left out (they say when the store was opened).

    Each statement's lines are compared as a set: MLflow's own migrations write the
    constraints of a rebuilt table in an order that varies with the hash seed."""
    with closing(sqlite3.connect(db)) as conn:
        schema = [
            (kind, name, table, sorted(line.strip(" ,") for line in (sql or "").splitlines()))
            for kind, name, table, sql in conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
            )
        ]
        rows = {}
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            cursor = conn.execute(f'SELECT * FROM "{name}"')
            columns = [c[0] for c in cursor.description]
            rows[name] = sorted(
                tuple((c, v) for c, v in zip(columns, row, strict=True) if not c.endswith("_time"))
                for row in cursor
            )
    return {"schema": schema, "rows": rows}


def _revision(db: Path) -> str:
    with closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def _store_db(root: Path) -> Path:
    db = sqlite_file(resolve_store(root=root).tracking_uri)
    assert db is not None
    return db


def test_a_new_store_is_the_database_mlflow_builds_and_works(tmp_path: Path) -> None:
    (tmp_path / "ref").mkdir()
    reference = tmp_path / "ref" / "mlflow.db"
    MlflowClient(f"sqlite:///{reference}").search_experiments()  # MLflow's own migrations

    store = resolve_store(root=tmp_path / "new")
    client = store.mlflow
    db = _store_db(tmp_path / "new")
    assert template_path().is_file(), "the first new store leaves the template behind"
    assert _tables(db) == _tables(reference)
    assert _revision(db) == _get_latest_schema_revision()

    # a working store: a run logged through one client reads back through another
    exp = client.create_experiment("s", artifact_location=f"{store.artifact_root}/s")
    run = client.create_run(exp, tags={"role": "trial"})
    client.log_param(run.info.run_id, "lr", "0.1")
    for step, value in enumerate([0.5, 0.25, 0.125]):
        client.log_metric(run.info.run_id, "loss", value, step=step)
    client.set_terminated(run.info.run_id, "FINISHED")
    again = MlflowClient(store.tracking_uri)
    got = again.get_run(run.info.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params == {"lr": "0.1"} and got.data.tags["role"] == "trial"
    history = again.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(0, 0.5), (1, 0.25), (2, 0.125)]
    assert [r.info.run_id for r in again.search_runs([exp])] == [run.info.run_id]
    assert again.get_experiment(exp).artifact_location == f"{store.artifact_root}/s"


def test_the_template_is_built_once_and_each_store_gets_its_own_copy(tmp_path: Path) -> None:
    first = resolve_store(root=tmp_path / "a").mlflow
    template = template_path()
    built = template.stat().st_mtime_ns
    second = resolve_store(root=tmp_path / "b").mlflow
    assert template.stat().st_mtime_ns == built
    first.create_experiment("only-in-a")
    assert second.get_experiment_by_name("only-in-a") is None
    assert _tables(template)["rows"]["experiments"] == [], "the template holds no rows"


@pytest.mark.parametrize("damage", ["garbage", "old revision", "empty"])
def test_a_damaged_or_outdated_template_is_rebuilt(tmp_path: Path, damage: str) -> None:
    resolve_store(root=tmp_path / "a").mlflow  # noqa: B018 (builds the template)
    template = template_path()
    if damage == "garbage":
        template.write_bytes(b"not a database" * 100)
    elif damage == "empty":
        template.write_bytes(b"")
    else:
        with closing(sqlite3.connect(template)) as conn, conn:
            conn.execute("UPDATE alembic_version SET version_num = 'deadbeef'")
    client = resolve_store(root=tmp_path / "b").mlflow
    assert [e.name for e in client.search_experiments()] == ["Default"]
    assert _revision(template) == _get_latest_schema_revision()
    assert _revision(_store_db(tmp_path / "b")) == _get_latest_schema_revision()


def test_without_a_usable_cache_mlflow_builds_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # <file>/sweeps cannot be made
    client = resolve_store(root=tmp_path / "s").mlflow
    assert [e.name for e in client.search_experiments()] == ["Default"]
    assert _revision(_store_db(tmp_path / "s")) == _get_latest_schema_revision()
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # not absolute: ignored (spec)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    resolve_store(root=tmp_path / "t").mlflow  # noqa: B018
    assert template_path() == tmp_path / "home" / ".cache" / "sweeps" / template_path().name
    assert template_path().is_file()


def test_an_existing_database_is_left_to_mlflow(tmp_path: Path) -> None:
    root = tmp_path / "s"
    resolve_store(root=root).mlflow.create_experiment("kept")
    template_path().unlink()
    client = resolve_store(root=root).mlflow  # a new Store object: opened again
    assert client.get_experiment_by_name("kept") is not None
    assert not template_path().exists(), "an existing store needs no template"


def test_processes_opening_one_new_store_at_once_with_no_template_yet(tmp_path: Path) -> None:
    """Racing template builders each leave a whole template; the first process under the
    store's lock creates its database, the others open it: one Default experiment."""
    cache, root = tmp_path / "cache", tmp_path / "mlruns"
    code = (
        "import sys; from sweeps.store import resolve_store; "
        "c = resolve_store(root=sys.argv[1]).mlflow; "
        "print(len(c.search_experiments()))"
    )
    env = cli_env(XDG_CACHE_HOME=str(cache))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(root)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [(p.returncode, out.strip()) for p, (out, _) in zip(procs, outs, strict=True)] == [
        (0, "1")
    ] * 3, outs
    assert not list(root.glob(".*.tmp")) and not list((cache / "sweeps").glob(".*.tmp"))
    assert _revision(_store_db(root)) == _get_latest_schema_revision()
