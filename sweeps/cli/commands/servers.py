"""Commands that serve a web UI on this project's store: the MLflow ``ui`` and
optuna-``dashboard``."""

from __future__ import annotations

from typing import Annotated

import typer

from sweeps.cli.commands.common import RootOpt, StorageOpt, TrackingOpt, console, open_store


def ui(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 5000,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 127.0.0.1 keeps the UI private.")
    ] = "127.0.0.1",
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
    study: Annotated[
        str | None, typer.Argument(help="Study whose runs to land on (default: the root).")
    ] = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the URL in a browser once the UI is up.")
    ] = False,
) -> None:
    """Start the MLflow UI on this project's store and print its URL: with STUDY, the URL
    of the study's runs (its parent run and trial runs)."""
    from sweeps.cli.ui import open_when_up, serve_ui, ui_url
    from sweeps.store import find_experiment_id

    store = open_store(None, tracking_uri, root)
    experiment = find_experiment_id(store, study) if study is not None else None
    url = ui_url(host, port, experiment)
    if open_browser:
        open_when_up(url, f"{ui_url(host, port)}/health")
    raise typer.Exit(serve_ui(store, host=host, port=port, console=console, url=url, study=study))


def dashboard(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8080,
    host: Annotated[
        str, typer.Option(help="Interface to bind; 127.0.0.1 keeps it private.")
    ] = "127.0.0.1",
    storage: StorageOpt = None,
    root: RootOpt = None,
) -> None:
    """Start optuna-dashboard on this project's Optuna storage (extra: sweeps[dashboard])."""
    from sweeps.cli.dashboard import serve_dashboard

    store = open_store(storage, None, root)
    raise typer.Exit(serve_dashboard(store, host=host, port=port, console=console))
