"""What the commands share: the consoles they print to, the options several of them
take, and turning those options into a validated config or an opened store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)

ParamsOpt = Annotated[
    Path | None,
    typer.Option("--params", "-p", help="YAML or JSON file with the parameter dict."),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override one parameter: key=value (repeatable)."),
]
TimeoutOpt = Annotated[
    str | None,
    typer.Option(
        "--timeout",
        help="Time budget (90s, 15m, 1h30m): no new trial starts after it; running ones "
        "finish and the study resumes (default: study.timeout, else none).",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only the final summary.")]
StudyArg = Annotated[str, typer.Argument(help="Study name.")]
StudyOpt = Annotated[
    str | None, typer.Option("--study", help="Study name (default: from the file).")
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage",
        help="Optuna storage URL (default: journal file in ./mlruns).",
        envvar="SWEEPS_STORAGE",
    ),
]
TrackingOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI (default: ./mlruns/mlflow.db).",
        envvar="SWEEPS_TRACKING_URI",
    ),
]
RootOpt = Annotated[
    Path | None,
    typer.Option("--root", help="Local store directory (default: ./mlruns).", envvar="SWEEPS_ROOT"),
]


def load_params(path: Path | None, overrides: list[str] | None) -> Any:
    """Params file + ``--set`` overrides -> validated :class:`trainer.TrainConfig`."""
    from sweeps.api import load_params as load

    return load(path, overrides or [])


def open_store(storage: str | None, tracking_uri: str | None, root: Path | None) -> Any:
    """The one :class:`sweeps.store.Store` a command passes down."""
    from sweeps.api import open_store as open_

    return open_(storage, tracking_uri, root)


def existing_study(
    study: str, storage: str | None, tracking_uri: str | None, root: Path | None
) -> Any:
    """A :class:`sweeps.api.StudyResult` for a study that must exist already (dead trials
    reaped; no store is created looking for it)."""
    from sweeps.api import load

    return load(study, storage=storage, tracking_uri=tracking_uri, root=root)
