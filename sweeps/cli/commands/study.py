"""Commands that run studies: ``run`` (or resume) one here, start a ``worker`` of a shared
one, and show a study's ``status`` (or list the studies)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from sweeps.cli.commands.common import (
    QuietOpt,
    RootOpt,
    StorageOpt,
    StudyOpt,
    TimeoutOpt,
    TrackingOpt,
    console,
    err_console,
    existing_study,
    open_store,
)


def run(
    space: Annotated[Path, typer.Argument(help="Search space YAML (search_spaces/*.yaml).")],
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials",
            "-n",
            min=1,
            help="Run this many more trials (default: top up to study.trials).",
        ),
    ] = None,
    study: StudyOpt = None,
    engine: Annotated[
        str, typer.Option(help="auto, single or population (many trials in one graph).")
    ] = "auto",
    cohort_size: Annotated[
        int | None,
        typer.Option(
            min=1, help="Slots: trials live at once in the population engine (default: automatic)."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Local worker processes sharing the study.")
    ] = 1,
    timeout: TimeoutOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run (or resume) an Optuna study over a search space; every trial goes to MLflow."""
    from sweeps.api import run as run_study

    result = run_study(
        space,
        trials=trials,
        study=study,
        engine=engine,
        cohort_size=cohort_size,
        workers=workers,
        timeout=timeout,
        storage=storage,
        tracking_uri=tracking_uri,
        root=root,
        progress=not quiet,
        console=console,
    )
    console.print(render_status(result.study))
    _say_timed_out(result.summary)
    if result.interrupted and result.summary is not None:  # workers said it themselves
        err_console.print(
            f"interrupted: the current trial was ended; resume with the same command "
            f"(study '{result.name}')"
        )
    if result.exit_code:
        raise typer.Exit(result.exit_code)


def _say_timed_out(summary: Any) -> None:
    if summary is not None and summary.timed_out:
        from sweeps.budget import format_duration

        console.print(
            f"time budget reached after {format_duration(summary.seconds)}: no new trial "
            f"started; resume with the same command (study '{summary.study_name}')",
            markup=False,
        )


def render_status(study: Any) -> Any:
    from sweeps.cli.views import render_status as render

    return render(study)


def status(
    study: Annotated[str | None, typer.Argument(help="Study name (default: list studies).")] = None,
    stability: Annotated[
        bool,
        typer.Option(
            "--stability",
            help="Largest learning rate that did not diverge per activation x loss, and "
            "which parameters predict divergence.",
        ),
    ] = False,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
) -> None:
    """Trials by state and outcome, and the best trial; without a name, list the studies."""
    from sweeps.api import open_store as open_
    from sweeps.cli.views import render_studies

    if study is None:
        store = open_(storage, tracking_uri, root, create=False)
        console.print(
            render_studies(store) if store.exists() else f"no studies in {store.describe()}"
        )
        return
    loaded = existing_study(study, storage, tracking_uri, root)
    console.print(render_status(loaded.study))
    if stability:
        from sweeps.cli.views import show_stability

        show_stability(loaded.study, loaded.store, console=console)


def worker(
    space: Annotated[Path, typer.Argument(help="Search space YAML shared by all workers.")],
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials",
            "-n",
            min=1,
            help="Stop after this many trials (default: until the study reaches study.trials).",
        ),
    ] = None,
    study: StudyOpt = None,
    engine: Annotated[str, typer.Option(help="auto, single or population.")] = "single",
    timeout: TimeoutOpt = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """One worker process of a shared study (run any number, on any number of machines)."""
    from sweeps.api import prepare
    from sweeps.live import LiveView
    from sweeps.runner.sweep import run_sweep

    parsed, budget = prepare(space, study=study, engine=engine, timeout=timeout, shared=True)
    summary = run_sweep(
        parsed,
        open_store(storage, tracking_uri, root),
        trials=trials,
        engine=engine,
        cohort_size=None,
        view=LiveView(console, quiet=quiet),
        timeout=budget,
    )
    _say_timed_out(summary)
    if summary.interrupted:
        raise typer.Exit(130)
