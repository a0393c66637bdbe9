"""``sweeps dashboard``: optuna-dashboard on this project's Optuna storage (an optional extra).

The same storage ``sweeps run`` writes (the journal file in ``./mlruns`` or ``--storage``),
served on 127.0.0.1 by default: live optimisation history, importances, per-trial user
attributes (outcome, reason, MLflow run id). Install it with ``pip install 'sweeps[dashboard]'``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from rich.console import Console

from sweeps.cli.ui import port_in_use
from sweeps.errors import UserError
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
    """Serve the dashboard in the foreground until Ctrl-C; returns the exit code."""
    dashboard = load_dashboard()
    if port_in_use(host, port):
        raise UserError(f"--port: {host}:{port} is already in use; pick another with --port")
    storage = store.optuna
    console.print(
        f"Optuna dashboard on http://{host}:{port}  "
        f"(storage {redact(store.storage_url)}; Ctrl-C stops)"
    )
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it stops
        dashboard.run_server(storage, host=host, port=port)
    return 0
