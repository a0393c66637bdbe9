"""Where studies and runs live: the local ``mlruns/`` default, or a database and a server;
and the one opening of each backend per command (``Store.optuna``, ``Store.mlflow``).

Default (nothing to start): ``mlruns/mlflow.db`` (MLflow's SQLite backend),
``mlruns/artifacts/`` (artifacts) and ``mlruns/optuna.journal`` (Optuna's journal file
storage, which several local processes can share safely through a file lock; SQLite
would fail with "database is locked"). ``--storage postgresql://...`` switches Optuna to
``RDBStorage`` with heartbeats; ``--tracking-uri http://...`` to an MLflow server.

Heartbeats: every ``SWEEPS_HEARTBEAT_INTERVAL`` seconds (default 10) a running trial is
marked alive; one silent for ``SWEEPS_GRACE_PERIOD`` seconds (default 30) is failed as
stale and retried. The first process to open a fresh database creates its tables while
holding a lock (a PostgreSQL/MySQL advisory lock, a file lock for SQLite), so any number
of workers may start at once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sweeps.errors import UserError

DEFAULT_ROOT = Path("mlruns")
HEARTBEAT_INTERVAL = 10
GRACE_PERIOD = 30
ENV_HEARTBEAT_INTERVAL = "SWEEPS_HEARTBEAT_INTERVAL"
ENV_GRACE_PERIOD = "SWEEPS_GRACE_PERIOD"


@dataclass(frozen=True)
class Store:
    """Resolved locations of the Optuna storage and the MLflow tracking store."""

    root: Path
    storage_url: str
    tracking_uri: str
    artifact_root: str | None

    @property
    def is_rdb(self) -> bool:
        return not self.storage_url.startswith("journal:")

    def describe(self) -> str:
        return f"optuna={redact(self.storage_url)} mlflow={redact(self.tracking_uri)}"

    @cached_property
    def optuna(self) -> Any:
        """The Optuna storage, opened on first use and then shared by everything the
        command does with this store (one connection pool, one journal reader)."""
        from sweeps.store._optuna import open_storage

        return open_storage(self)

    @cached_property
    def mlflow(self) -> Any:
        """The ``MlflowClient``, connected (and checked) on first use, then shared."""
        from sweeps.store._mlflow import connect

        return connect(self)


def resolve_store(
    storage: str | None = None,
    tracking_uri: str | None = None,
    root: Path | str | None = None,
) -> Store:
    """Fill in defaults under ``root`` (``./mlruns``) for whatever was not given."""
    base = Path(root) if root is not None else DEFAULT_ROOT
    base = base.resolve()
    local_mlflow = tracking_uri is None
    if storage is None or tracking_uri is None:
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"store '{base}': cannot create directory ({exc.strerror})") from None
    if storage is None:
        storage = f"journal:{base / 'optuna.journal'}"
    elif not re.match(r"^(postgresql(\+\w+)?|mysql(\+\w+)?|sqlite)://", storage):
        raise UserError(
            "--storage: must be a postgresql://, mysql:// or sqlite:// URL, "
            f"got {redact(storage)!r}"
        )
    if tracking_uri is None:
        tracking_uri = f"sqlite:///{base / 'mlflow.db'}"
    storage, tracking_uri = with_pg_driver(storage), with_pg_driver(tracking_uri)
    artifact_root = (base / "artifacts").as_uri() if local_mlflow else None
    return Store(base, storage, tracking_uri, artifact_root)


def with_pg_driver(url: str) -> str:
    """``postgresql://`` -> ``postgresql+psycopg2://`` when only psycopg2 is installed.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3; this project installs
    psycopg2 (``psycopg2-binary``), so the plain URLs of the README would fail to load
    a driver. An explicit ``postgresql+driver://`` is left alone.
    """
    import importlib.util

    if not url.startswith("postgresql://") or importlib.util.find_spec("psycopg") is not None:
        return url
    if importlib.util.find_spec("psycopg2") is None:
        return url
    return "postgresql+psycopg2://" + url.removeprefix("postgresql://")


def heartbeat_settings() -> tuple[int, int]:
    """``(interval, grace period)`` in seconds, from the environment or the defaults."""
    values = []
    for name, default in (
        (ENV_HEARTBEAT_INTERVAL, HEARTBEAT_INTERVAL),
        (ENV_GRACE_PERIOD, GRACE_PERIOD),
    ):
        raw = os.environ.get(name, "").strip()
        if not raw:
            values.append(default)
            continue
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise UserError(f"{name}: must be a whole number of seconds >= 1, got {raw!r}")
        values.append(value)
    interval, grace = values
    if grace <= interval:
        raise UserError(
            f"{ENV_GRACE_PERIOD}: must be longer than the heartbeat interval ({interval}s), "
            f"got {grace}"
        )
    return interval, grace


@contextmanager
def init_lock(url: str, name: str) -> Iterator[None]:
    """Serialise first-time table creation on a database shared by several processes.

    PostgreSQL and MySQL: a server-side advisory lock (works across machines); SQLite:
    an exclusive ``flock`` on ``<file>.lock`` beside the database. Held only while the
    storage or tracking store is opened, so concurrent starts just queue for a moment.
    """
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///").split("?", 1)[0]
        if not path or path == ":memory:":
            yield
            return
        import fcntl

        lock_path = Path(path).with_name(Path(path).name + ".lock")
        if not lock_path.parent.is_dir():  # nothing to share yet; creating dirs is not ours
            yield
            return
        with open(lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    if not url.startswith(("postgresql", "mysql")):
        yield
        return
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    key = f"sweeps-init-{name}"
    connect_args = {"connect_timeout": 10} if url.startswith("postgresql") else {}
    engine = sqlalchemy.create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            if url.startswith("postgresql"):
                lock = sqlalchemy.text("SELECT pg_advisory_lock(hashtext(:k))")
                unlock = sqlalchemy.text("SELECT pg_advisory_unlock(hashtext(:k))")
            else:
                lock = sqlalchemy.text("SELECT GET_LOCK(:k, 120)")
                unlock = sqlalchemy.text("SELECT RELEASE_LOCK(:k)")
            conn.execute(lock, {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(unlock, {"k": key})
                conn.commit()
    finally:
        engine.dispose()


@contextmanager
def study_lock(store: Store, study: str) -> Iterator[None]:
    """Hold the study's lock, across processes and (on a database) machines: what makes a
    worker's count-and-ask atomic, so N workers topping a study up take exactly the
    trials it lacks. A database advisory lock (:func:`init_lock`'s, keyed by the study)
    or an exclusive ``flock`` beside the journal file."""
    if store.is_rdb:
        with init_lock(store.storage_url, f"topup-{study}"):
            yield
        return
    import fcntl

    journal = Path(store.storage_url.removeprefix("journal:"))
    with open(journal.with_name(journal.name + ".topup.lock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def redact(url: str) -> str:
    """Hide a password in a URL (or in text holding URLs) so it never reaches logs,
    printed output or MLflow params."""
    return re.sub(r"(://[^:/@\s]+):[^/\s]*@", r"\1:***@", url)


def scrub(text: str, *urls: str) -> str:
    """:func:`redact` ``text``, and also remove the passwords of ``urls`` wherever a
    driver repeated them in a message (raw or percent-decoded)."""
    text = redact(text)
    for url in urls:
        try:
            password = urlsplit(url).password
        except ValueError:
            password = None
        if password:
            for secret in {password, unquote(password)}:
                if len(secret) >= 3:
                    text = text.replace(secret, "***")
    return text
