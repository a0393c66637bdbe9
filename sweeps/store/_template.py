"""A new local MLflow database as a copy of a pre-migrated template.

On a new SQLite file MLflow creates its tables and then runs every alembic migration it
ships, one transaction each: about 1.5 s of CPU, paid by every fresh ``mlruns/`` before
its first trial. The result depends only on the MLflow version, so it is built once per
version and user, in ``$XDG_CACHE_HOME/sweeps/`` (default ``~/.cache/sweeps/``), and each
new store starts as a copy of it (milliseconds).

The template is the database right after MLflow's own table creation
(``mlflow.store.db.utils._initialize_tables``, what ``SqlAlchemyStore`` runs on an empty
database), with no rows: MLflow finds its tables in the copy, checks the schema revision
and adds its ``Default`` experiment (with this store's artifact location) as it does on a
database it migrated itself.

A template is used only when SQLite finds it sound and its schema revision is the head of
the installed MLflow's migrations (what MLflow itself checks on opening a store); any
other is rebuilt. Best effort throughout: without a writable cache, with an MLflow that
lacks the helpers used here, or when the copy cannot be made, MLflow creates the database
itself, as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import uuid
from pathlib import Path

log = logging.getLogger(__name__)

ENV_CACHE = "XDG_CACHE_HOME"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/sweeps`` (an absolute ``XDG_CACHE_HOME`` only, as the spec
    says), else ``~/.cache/sweeps``."""
    base = os.environ.get(ENV_CACHE, "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "sweeps"


def template_path() -> Path:
    """Where the template of the installed MLflow version lives."""
    import mlflow

    return cache_dir() / f"mlflow-{mlflow.__version__}.db"


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (``None`` for anything else,
    in-memory included)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def seed_from_template(uri: str) -> Path | None:
    """Create the database of ``uri`` as a copy of the template, when it is a local
    SQLite file that does not exist yet; returns the file created, else ``None``.

    Call under :func:`~sweeps.store.init_lock` (the caller opens the store right after).
    The copy appears under its final name in one step (a hard link of a finished copy):
    a process that looks at the same moment finds no file, or the whole database.
    """
    db = sqlite_file(uri)
    if db is None or db.exists() or not db.parent.is_dir():
        return None
    template = _ensure_template()
    if template is None:
        return None
    tmp = db.with_name(f".{db.name}.{uuid.uuid4().hex}.tmp")
    try:
        _copy(template, tmp)
        os.link(tmp, db)
    except FileExistsError:  # created meanwhile by a process that took no lock
        return None
    except OSError as exc:  # e.g. a file system without hard links: MLflow creates it
        log.debug("MLflow template not used for %s: %s", db, exc)
        return None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return db


def _copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to a new file ``dst``, created with the mode SQLite gives a database
    it creates (0644 less the umask)."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with open(fd, "wb") as out, open(src, "rb") as source:
        shutil.copyfileobj(source, out)


def _ensure_template() -> Path | None:
    """The template of this MLflow version, (re)built now unless a sound one is there;
    ``None`` if there can be none (no writable cache, an MLflow without the helpers)."""
    try:
        from mlflow.store.db.utils import _get_latest_schema_revision

        path = template_path()
        head = _get_latest_schema_revision()
        if _revision(path) == head:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        _build(path)
        if _revision(path) != head:
            raise RuntimeError(f"the new template is not at schema revision {head}")
    except Exception as exc:
        log.debug("no MLflow template database: %s", exc)
        return None
    return path


def _revision(path: Path) -> str | None:
    """The schema revision of a sound SQLite database at ``path``, else ``None`` (no
    file, not a database, damaged, no revision recorded)."""
    if not path.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            if conn.execute("PRAGMA quick_check").fetchone() != ("ok",):
                return None
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _build(path: Path) -> None:
    """Run MLflow's table creation on a private file, then move it to ``path`` in one
    step: builders racing each other each leave a complete template, the last one stays."""
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp}")
    try:
        _initialize_tables(engine)
        engine.dispose()
        os.replace(tmp, path)
    finally:
        engine.dispose()
        with contextlib.suppress(OSError):
            tmp.unlink()
