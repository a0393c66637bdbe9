"""Throw-away PostgreSQL databases on the server the tests and the soak use.

The server: ``SWEEPS_TEST_PG_HOST``/``_PORT``/``_USER`` (default 127.0.0.1:5432, user
``postgres``, trust auth). Shared by ``tests/sweeps/pg.py`` and ``benchmarks/soak.py``.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

PG_HOST = os.environ.get("SWEEPS_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SWEEPS_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("SWEEPS_TEST_PG_USER", "postgres")


def admin(connect_timeout: int = 3) -> Any:
    """An autocommit connection to the ``postgres`` database (to create and drop others)."""
    import psycopg2

    conn = psycopg2.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=connect_timeout
    )
    conn.autocommit = True
    return conn


def create_database(prefix: str, label: str, *, connect_timeout: int = 3) -> str:
    """A fresh database ``<prefix>_<label>_<random>``; returns its name."""
    name = f"{prefix}_{label}_{uuid.uuid4().hex[:10]}"
    conn = admin(connect_timeout)
    try:
        conn.cursor().execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return name


def drop_databases(names: list[str], *, connect_timeout: int = 3) -> None:
    """Drop ``names`` (connections to them are closed by force)."""
    if not names:
        return
    conn = admin(connect_timeout)
    try:
        cur = conn.cursor()
        for name in names:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()
