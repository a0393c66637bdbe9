"""``sweeps dashboard``: optuna-dashboard on this project's Optuna storage (an optional extra).

The same storage ``sweeps run`` writes (the journal file in ``./mlruns`` or ``--storage``),
served on 127.0.0.1 by default: live optimisation history, importances, per-trial user
attributes (outcome, reason, MLflow run id). Install it with ``pip install 'sweeps[dashboard]'``.
"""

from __future__ import annotations

import threading
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from rich.console import Console

from sweeps.cli.ui import port_in_use
from sweeps.errors import UserError
from sweeps.procs import on_stop_signals
from sweeps.store import Store, redact

INSTALL_HINT = "pip install 'sweeps[dashboard]' (or: pip install optuna-dashboard)"


def load_dashboard() -> Any:
    """The ``optuna_dashboard`` module, or a one-line error saying how to install it."""
    try:
        import optuna_dashboard
    except ImportError:
        raise UserError(f"optuna-dashboard is not installed: {INSTALL_HINT}") from None
    return optuna_dashboard


def serve_dashboard(store: Store, *, host: str, port: int, console: Console) -> int:
    """Serve the dashboard (its WSGI app, on the standard library's server) in the
    foreground until Ctrl-C, SIGTERM or SIGHUP; returns the exit code."""
    dashboard = load_dashboard()
    if port_in_use(host, port):
        raise UserError(f"--port: {host}:{port} is already in use; pick another with --port")
    storage = store.optuna
    console.print(
        f"Optuna dashboard on http://{host}:{port}  "
        f"(storage {redact(store.storage_url)}; Ctrl-C stops)"
    )
    server = make_server(host, port, dashboard.wsgi(storage), handler_class=_QuietHandler)

    def stop() -> None:  # shutdown() waits for serve_forever(): not from its own thread
        threading.Thread(target=server.shutdown, name="sweeps-dashboard-stop").start()

    # Ctrl-C, SIGTERM (a service manager) and SIGHUP (a closed terminal) stop it cleanly,
    # after the request in flight
    with on_stop_signals(stop):
        server.serve_forever()
    server.server_close()
    return 0


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass
