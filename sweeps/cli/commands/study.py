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
    check_engine,
    console,
    err_console,
    open_store,
)
from sweeps.errors import UserError


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
    parsed, budget = _checked_space(space, study, engine, timeout)
    store = open_store(storage, tracking_uri, root)
    if workers > 1:
        from sweeps.run.workers import run_local_workers

        code = run_local_workers(
            space,
            parsed,
            store,
            workers=workers,
            trials=trials,
            engine=engine,
            console=console,
            quiet=quiet,
            timeout=budget,
        )
        _print_status(parsed.settings.name, store)
        raise typer.Exit(code)
    summary = _sweep(
        parsed,
        store,
        trials=trials,
        engine=engine,
        cohort_size=cohort_size,
        quiet=quiet,
        timeout=budget,
    )
    _print_status(parsed.settings.name, store)
    _say_timed_out(summary, parsed)
    if summary.interrupted:
        err_console.print(
            f"interrupted: the current trial was ended; resume with the same command "
            f"(study '{parsed.settings.name}')"
        )
        raise typer.Exit(130)


def _checked_space(
    space: Path, study: str | None, engine: str, timeout: str | None, *, shared: bool = False
) -> tuple[Any, float | None]:
    """``(space, time budget)`` once the options, the file and its data are checked;
    ``shared``: as a worker of a shared study sees it."""
    from sweeps.space import load_space

    check_engine(engine)
    budget = _timeout(timeout)
    parsed = load_space(space, name=study)
    if shared:
        from sweeps.run.workers import worker_space

        parsed = worker_space(parsed)
    _check_data(parsed)
    return parsed, budget


def _timeout(text: str | None) -> float | None:
    from sweeps.budget import parse_duration

    if text is None:
        return None
    try:
        return parse_duration(text, "--timeout")
    except ValueError as exc:
        raise UserError(str(exc)) from None


def _say_timed_out(summary: Any, parsed: Any) -> None:
    if summary.timed_out:
        from sweeps.budget import format_duration

        console.print(
            f"time budget reached after {format_duration(summary.seconds)}: no new trial "
            f"started; resume with the same command (study '{parsed.settings.name}')",
            markup=False,
        )


def _check_data(parsed: Any) -> None:
    """Missing data, or a batch larger than the data: one line before any trial exists."""
    from sweeps.run.datacheck import check_space_data

    check_space_data(parsed)


def _sweep(parsed: Any, store: Any, **kwargs: Any) -> Any:
    from sweeps.cli.live import LiveView
    from sweeps.run.sweep import run_sweep

    quiet = kwargs.pop("quiet")
    view = LiveView(console, quiet=quiet)
    console.print(f"study '{parsed.settings.name}' in {store.describe()}")
    return run_sweep(parsed, store, view=view, **kwargs)


def _print_status(name: str, store: Any) -> Any:
    from sweeps.cli.views import render_status
    from sweeps.run.liveness import load_checked

    study = load_checked(name, store)
    console.print(render_status(study))
    return study


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
    from sweeps.cli.views import render_studies

    store = open_store(storage, tracking_uri, root)
    if study is None:
        console.print(render_studies(store))
        return
    loaded = _print_status(study, store)
    if stability:
        from sweeps.cli.views import show_stability

        show_stability(loaded, store, console=console)


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
    quiet: QuietOpt = True,
) -> None:
    """One worker process of a shared study (run any number, on any number of machines)."""
    parsed, budget = _checked_space(space, study, engine, timeout, shared=True)
    summary = _sweep(
        parsed,
        open_store(storage, tracking_uri, root),
        trials=trials,
        engine=engine,
        cohort_size=None,
        quiet=quiet,
        timeout=budget,
    )
    _say_timed_out(summary, parsed)
    if summary.interrupted:
        raise typer.Exit(130)
