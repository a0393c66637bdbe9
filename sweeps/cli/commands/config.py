"""Commands on one parameter dict: ``train`` it, list the ``params`` it may set, and
``doctor`` it (what goes wrong and which single change fixes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sweeps.cli.commands.common import (
    ParamsOpt,
    QuietOpt,
    RootOpt,
    SetOpt,
    StorageOpt,
    TrackingOpt,
    console,
    load_params,
    open_store,
)


def train(
    params: ParamsOpt = None,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
    track: Annotated[
        bool, typer.Option(help="Log the run to MLflow (experiment 'sweeps-train').")
    ] = True,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
) -> None:
    """Train one MLP from a parameter file and report its outcome (exit 1 unless ok)."""
    from sweeps.api import train as train_params

    result = train_params(
        params,
        overrides=set_ or [],
        track=track,
        quiet=quiet,
        tracking_uri=tracking_uri,
        root=root,
        console=console,
    )
    if result.outcome.label != "ok":
        raise typer.Exit(1)


def params() -> None:
    """Every training parameter: its default and its rule (what a params file, --set or a
    search space may set)."""
    from sweeps.cli.views import render_params

    console.print(render_params())


def doctor(
    params: Annotated[
        Path, typer.Option("--params", "-p", help="YAML or JSON file with the parameter dict.")
    ],
    set_: SetOpt = None,
    epochs: Annotated[
        int | None, typer.Option(min=1, help="Epochs per probe run (default: from params, <= 3).")
    ] = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Train a config briefly, label what goes wrong, and rank single changes that fix it."""
    from sweeps.analysis.doctor import run_doctor
    from sweeps.cli.views import DoctorConsoleView

    config = load_params(params, set_)
    store = open_store(storage, tracking_uri, root)
    run_doctor(config, store, view=DoctorConsoleView(console, quiet=quiet), epochs=epochs)
