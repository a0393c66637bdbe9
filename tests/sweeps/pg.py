"""Throw-away PostgreSQL databases for the distributed-mode tests.

The server is the one at 127.0.0.1:5432 (trust auth, user ``postgres``); each test
creates databases with unique names and drops them afterwards. Tests using
:func:`pg_databases` are skipped, with the reason, when the server is unreachable.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

PG_HOST = os.environ.get("SWEEPS_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SWEEPS_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("SWEEPS_TEST_PG_USER", "postgres")


def _admin() -> Any:
    import psycopg2

    conn = psycopg2.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=3
    )
    conn.autocommit = True
    return conn


def pg_available() -> str | None:
    """``None`` when the server answers, else why not."""
    try:
        conn = _admin()
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
        name = f"sweeps_test_{label}_{uuid.uuid4().hex[:10]}"
        conn = _admin()
        try:
            conn.cursor().execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        made.append(name)
        return name

    yield make
    if not made:
        return
    conn = _admin()
    try:
        cur = conn.cursor()
        for name in made:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()
