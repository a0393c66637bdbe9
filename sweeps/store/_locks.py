"""Locks several processes (and, on a database, machines) share: a database advisory lock
keyed by name, or an exclusive ``flock`` on a file beside the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
        lock_path = Path(path).with_name(Path(path).name + ".lock")
        if not lock_path.parent.is_dir():  # nothing to share yet; creating dirs is not ours
            yield
            return
        with file_lock(lock_path):
            yield
        return
    if not url.startswith(("postgresql", "mysql")):
        yield
        return
    with _advisory_lock(url, f"sweeps-init-{name}"):
        yield


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if missing), held inside the block."""
    import fcntl

    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def _advisory_lock(url: str, key: str) -> Iterator[None]:
    """A PostgreSQL or MySQL server-side lock named ``key``, on a connection of its own."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

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
