"""Commands that take a study's results out: an HTML ``report``, the best (or picked)
trial's parameters (``export``), and every trial as a table (``trials``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sweeps.cli.commands.common import (
    RootOpt,
    StorageOpt,
    StudyArg,
    TrackingOpt,
    console,
    existing_study,
)
from sweeps.errors import UserError


def report(
    study: StudyArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path(
        "report.html"
    ),
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
) -> None:
    """One self-contained HTML page of plots for a study (also logged to its parent run)."""
    from sweeps.analysis.report import write_report

    store, s = existing_study(study, storage, tracking_uri, root)
    path = write_report(s, store, out)
    console.print(f"report for study '{study}' written to {path}")


def export(
    study: StudyArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file.")] = Path("best.yaml"),
    fmt: Annotated[str | None, typer.Option("--format", help="yaml or json.")] = None,
    pick: Annotated[
        str | None,
        typer.Option(
            "--pick",
            help="Which trial: a trial number, best:<objective>, or knee (the balanced point "
            "of a Pareto front). Default: the best (on the first objective).",
        ),
    ] = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
) -> None:
    """Write the best (or picked) trial's full parameter dict; `sweeps train --params`
    retrains it."""
    from sweeps.analysis.export import export_best
    from sweeps.store import study_objectives

    if fmt is not None and fmt not in ("yaml", "json"):
        raise UserError(f"--format: must be yaml or json, got {fmt!r}")
    _, s = existing_study(study, storage, tracking_uri, root)
    path, best = export_best(s, out, fmt, pick)
    values = ", ".join(
        f"{n}={v:.6g}" for n, v in zip(study_objectives(s), best.values, strict=True)
    )
    what = "best trial" if pick is None else f"trial picked by {pick!r},"
    console.print(f"{what} #{best.number} ({values}) of study '{study}' written to {path}")


def trials(
    study: StudyArg,
    out: Annotated[Path, typer.Option("--out", "-o", help=".csv or .parquet file.")] = Path(
        "trials.csv"
    ),
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
) -> None:
    """Export every trial (params, state, outcome, MLflow run id) as CSV or Parquet."""
    from sweeps.analysis.export import write_trials

    _, s = existing_study(study, storage, tracking_uri, root)
    path = write_trials(s, out)
    console.print(f"{len(s.trials)} trial(s) of study '{study}' written to {path}")
