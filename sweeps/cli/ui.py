"""``sweeps ui``: the MLflow UI on this project's store, bound to 127.0.0.1 by default.

Runs ``mlflow server`` with MLflow's own host-checking middleware left on; binding to
another interface is an explicit choice (``--host``), and ``--allowed-hosts`` follows it.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
import urllib.request
import webbrowser

from rich.console import Console

from sweeps.errors import UserError
from sweeps.procs import run_in_group
from sweeps.store import Store, redact


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def ui_command(store: Store, *, host: str, port: int) -> list[str]:
    """The ``mlflow server`` command line for this store."""
    if store.tracking_uri.startswith(("http://", "https://")):
        raise UserError(
            f"--tracking-uri {redact(store.tracking_uri)}: is already a server; "
            "open it in a browser"
        )
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        store.tracking_uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if store.artifact_root:
        cmd += ["--default-artifact-root", store.artifact_root]
    return cmd


def ui_url(host: str, port: int, experiment_id: str | None = None) -> str:
    """The UI's address; with an experiment, its runs table (not MLflow 3's GenAI
    overview, where clicking an experiment lands)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    root = f"http://{shown}:{port}"
    return root if experiment_id is None else f"{root}/#/experiments/{experiment_id}/runs"


def open_when_up(url: str, health_url: str, timeout: float = 120.0) -> threading.Thread:
    """Open ``url`` in the user's browser once the server answers ``health_url``."""

    def wait_and_open() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(health_url, timeout=2):
                    webbrowser.open(url)
                    return
            except OSError:
                time.sleep(0.5)

    thread = threading.Thread(target=wait_and_open, name="sweeps-ui-open", daemon=True)
    thread.start()
    return thread


def serve_ui(
    store: Store,
    *,
    host: str,
    port: int,
    console: Console,
    url: str | None = None,
    study: str | None = None,
) -> int:
    """Start the UI in the foreground; returns its exit code (Ctrl-C stops it).

    ``url``/``study``: the study's runs view, printed on its own line to open."""
    if port_in_use(host, port):
        raise UserError(f"--port: {host}:{port} is already in use; pick another with --port")
    cmd = ui_command(store, host=host, port=port)
    console.print(
        f"MLflow UI on {ui_url(host, port)}  (store {redact(store.tracking_uri)}; Ctrl-C stops)",
        markup=False,
    )
    if url is not None and study is not None:
        console.print(f"runs of study '{study}': {url}", markup=False, soft_wrap=True)
    return run_in_group(cmd)  # Ctrl-C, SIGTERM, SIGHUP stop the server and its workers
