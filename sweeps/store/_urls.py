"""Store URLs as text: masking their passwords, naming the installed PostgreSQL driver, and
turning a backend's failure to open into a one-line :class:`UserError` that names the URL
without its password."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

from sweeps.errors import UserError


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


@contextmanager
def failing_as(option: str, url: str, what: str) -> Iterator[None]:
    """Any error but a :class:`UserError` inside becomes ``UserError("<option> <url>:
    <what> (<message>)")``: one line, the URL and the message without the password."""
    try:
        yield
    except UserError:
        raise
    except Exception as exc:  # sqlalchemy OperationalError, ArgumentError, MlflowException...
        msg = scrub(" ".join(str(exc).split()), url)[:200]
        raise UserError(f"{option} {redact(url)}: {what} ({msg})") from None
