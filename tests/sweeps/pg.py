"""Throw-away PostgreSQL databases for the distributed-mode tests.

The server is the one at 127.0.0.1:5432 (trust auth, user ``postgres``); each test
creates databases with unique names and drops them afterwards. Tests using
:func:`pg_databases` are skipped, with the reason, when the server is unreachable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from benchmarks._pg import PG_HOST, PG_PORT, PG_USER, admin, create_database, drop_databases

__all__ = ["PG_HOST", "PG_PORT", "PG_USER", "admin", "pg_available", "pg_databases", "url"]


def pg_available() -> str | None:
    """``None`` when the server answers, else why not."""
    try:
        conn = admin()
    except Exception as exc:
        return " ".join(str(exc).split())
    conn.close()
    return None


def url(db: str, password: str | None = None) -> str:
    auth = PG_USER if password is None else f"{PG_USER}:{password}"
    return f"postgresql://{auth}@{PG_HOST}:{PG_PORT}/{db}"


@pytest.fixture
def pg_databases() -> Iterator[Callable[[str], str]]:
    """``make(label) -> db name``: a fresh database, dropped after the test."""
    why = pg_available()
    if why is not None:
        pytest.skip(f"PostgreSQL not reachable at {PG_HOST}:{PG_PORT} ({why})")
    made: list[str] = []

    def make(label: str) -> str:
        made.append(create_database("sweeps_test", label))
        return made[-1]

    yield make
    drop_databases(made)
