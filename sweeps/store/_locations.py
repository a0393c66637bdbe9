"""Where studies and runs live (:class:`Store`): the local ``mlruns/`` default, or a
database and a server; and the one opening of each backend per command (``Store.optuna``,
``Store.mlflow``), whose openers live here beside it.

Default (nothing to start): ``mlruns/mlflow.db`` (MLflow's SQLite backend),
``mlruns/artifacts/`` (artifacts) and ``mlruns/optuna.journal`` (Optuna's journal file
storage, which several local processes can share safely through a file lock; SQLite
would fail with "database is locked"). ``--storage postgresql://...`` switches Optuna to
``RDBStorage`` with heartbeats (:mod:`sweeps.store._heartbeat`); ``--tracking-uri
http://...`` to an MLflow server. The first process to open a fresh database creates its
tables while holding a lock (:func:`~sweeps.store._locks.init_lock`), so any number of
workers may start at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sweeps.errors import UserError
from sweeps.store._heartbeat import heartbeat_settings, retry_callback
from sweeps.store._locks import file_lock, init_lock
from sweeps.store._urls import failing_as, redact, with_pg_driver

DEFAULT_ROOT = Path("mlruns")


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

    def exists(self) -> bool:
        """Whether a study can be in the Optuna storage: the local journal file is there
        (a database is assumed to be: reading it tells)."""
        return self.is_rdb or Path(self.storage_url.removeprefix("journal:")).is_file()

    def describe(self) -> str:
        return f"optuna={redact(self.storage_url)} mlflow={redact(self.tracking_uri)}"

    @cached_property
    def optuna(self) -> Any:
        """The Optuna storage, opened on first use and then shared by everything the
        command does with this store (one connection pool, one journal reader)."""
        return open_storage(self)

    @cached_property
    def mlflow(self) -> Any:
        """The ``MlflowClient``, connected (and checked) on first use, then shared."""
        return connect(self)


def resolve_store(
    storage: str | None = None,
    tracking_uri: str | None = None,
    root: Path | str | None = None,
    *,
    create: bool = True,
) -> Store:
    """Fill in defaults under ``root`` (``./mlruns``) for whatever was not given;
    ``create=False`` (readers) leaves a missing local directory missing."""
    base = Path(root) if root is not None else DEFAULT_ROOT
    base = base.resolve()
    local_mlflow = tracking_uri is None
    if create and (storage is None or tracking_uri is None):
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
    journal = Path(store.storage_url.removeprefix("journal:"))
    with file_lock(journal.with_name(journal.name + ".topup.lock")):
        yield


def open_storage(store: Store) -> Any:
    """Open the Optuna storage (``store.optuna`` calls this once per store).

    RDB storages get heartbeats so dead workers are detected."""
    import warnings

    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if not store.is_rdb:
        path = store.storage_url.removeprefix("journal:")
        return JournalStorage(JournalFileBackend(path))
    interval, grace = heartbeat_settings()
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if store.storage_url.startswith("postgresql"):
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
    with (
        failing_as("--storage", store.storage_url, "cannot connect"),
        init_lock(store.storage_url, "optuna"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            store.storage_url,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=interval,
            grace_period=grace,
            heartbeat_stale_trial_callback=retry_callback(),
        )


def connect(store: Store) -> Any:
    """An ``MlflowClient`` on the store, checked with one read; a one-line
    :class:`UserError` naming the (masked) URI when MLflow cannot be reached
    (``store.mlflow`` calls this once per store).

    The first process on a fresh database creates MLflow's tables as its client opens
    the store: under :func:`~sweeps.store.init_lock`, one process at a time. A new local
    SQLite database starts as a copy of a pre-migrated template (see
    :mod:`sweeps.store._template`), which spares MLflow's migrations.
    """
    import os

    import mlflow

    # Against a server MLflow prints "View run ... at URL" for every run it ends: one per
    # trial, drowning the progress lines; the run ids are in the trials table anyway.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    uri = store.tracking_uri
    with failing_as("--tracking-uri", uri, "cannot open MLflow"):
        if uri.startswith(("http://", "https://")):
            _probe_server(uri)
        with init_lock(uri, "mlflow"):
            mlflow.set_tracking_uri(uri)
            return _open_client(uri)


def _open_client(uri: str) -> Any:
    """The client, checked with one read; a new local database is first seeded from the
    template (:func:`~sweeps.store._template.seed_from_template`)."""
    from mlflow import MlflowClient

    from sweeps.store._template import seed_from_template

    seed_from_template(uri)
    client = MlflowClient(tracking_uri=uri)
    client.search_experiments(max_results=1)
    return client


def _probe_server(uri: str) -> None:
    """Fail in seconds, not minutes of MLflow's HTTP retries, when no server answers."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(uri)
    host = parts.hostname or "localhost"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UserError(
            f"--tracking-uri {redact(uri)}: no MLflow server at {host}:{port} ({reason})"
        ) from None
