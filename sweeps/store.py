"""Where studies and runs live: the local ``mlruns/`` default, or a database and a server.

Default (nothing to start): ``mlruns/mlflow.db`` (MLflow's SQLite backend),
``mlruns/artifacts/`` (artifacts) and ``mlruns/optuna.journal`` (Optuna's journal file
storage, which several local processes can share safely through a file lock; SQLite
would fail with "database is locked"). ``--storage postgresql://...`` switches Optuna to
``RDBStorage`` with heartbeats; ``--tracking-uri http://...`` to an MLflow server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeps.errors import UserError

DEFAULT_ROOT = Path("mlruns")
HEARTBEAT_INTERVAL = 10
GRACE_PERIOD = 30


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
    artifact_root = (base / "artifacts").as_uri() if local_mlflow else None
    return Store(base, storage, tracking_uri, artifact_root)


def optuna_storage(store: Store) -> Any:
    """An Optuna storage object; RDB storages get heartbeats so dead workers are detected."""
    import optuna
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    if not store.is_rdb:
        path = store.storage_url.removeprefix("journal:")
        return JournalStorage(JournalFileBackend(path))
    try:
        return optuna.storages.RDBStorage(
            store.storage_url,
            engine_kwargs={"pool_pre_ping": True},
            heartbeat_interval=HEARTBEAT_INTERVAL,
            grace_period=GRACE_PERIOD,
            failed_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3),
        )
    except Exception as exc:  # sqlalchemy OperationalError, ArgumentError, ...
        msg = " ".join(str(exc).split())[:200]
        raise UserError(f"--storage {redact(store.storage_url)}: cannot connect ({msg})") from None


def redact(url: str) -> str:
    """Hide a password in a URL so it never reaches logs or MLflow params."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)
