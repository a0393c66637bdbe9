"""Commands that take a study's results out: an HTML ``report``, the best (or picked)
trial's parameters (``export``), every trial as a table (``trials``), and the next
search space made from its failures (``refine``)."""

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
    path = existing_study(study, storage, tracking_uri, root).report(out)
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
    register: Annotated[
        str | None,
        typer.Option(
            "--register",
            help="Also register the trial's saved model in MLflow's model registry under "
            "this name (a new version when the name exists).",
        ),
    ] = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
) -> None:
    """Write the best (or picked) trial's full parameter dict; `sweeps train --params`
    retrains it."""
    loaded = existing_study(study, storage, tracking_uri, root)
    done = loaded.export(out, pick=pick, fmt=fmt, register=register)
    values = ", ".join(f"{n}={v:.6g}" for n, v in done.trial.values.items())
    what = "best trial" if pick is None else f"trial picked by {pick!r},"
    console.print(
        f"{what} #{done.trial.number} ({values}) of study '{study}' written to {done.path}",
        markup=False,
    )
    if done.model_version is not None:
        v = done.model_version
        console.print(
            f"model {done.trial.model_uri} registered as '{v.name}' version {v.version}",
            markup=False,
        )


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

    s = existing_study(study, storage, tracking_uri, root).study
    path = write_trials(s, out)
    console.print(f"{len(s.trials)} trial(s) of study '{study}' written to {path}")


def refine(
    study: StudyArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Space file to write.")] = Path(
        "refined.yaml"
    ),
    space: Annotated[
        Path | None,
        typer.Option("--space", help="The space file the study ran (default: the recorded one)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="The refined study's name (default: STUDY-refined)."),
    ] = None,
    tolerance: Annotated[
        float | None,
        typer.Option(
            "--tolerance",
            help="A trial is good within this share of the best value at its epoch "
            "(default 0.01); a choice with no good trial is dropped.",
        ),
    ] = None,
    storage: StorageOpt = None,
    tracking_uri: TrackingOpt = None,
    root: RootOpt = None,
) -> None:
    """Write the next search space from a study's failures: choices that never came close
    dropped, range ends where trials failed cut (per activation where that is where they
    fail), each change commented with its evidence. `sweeps run OUT` runs it."""
    from sweeps.analysis.refine import NOTHING_TO_CUT
    from sweeps.analysis.refine.evidence import counted
    from sweeps.api import refine as refine_study

    loaded = existing_study(study, storage, tracking_uri, root)
    done = refine_study(loaded, out, space=space, name=name, tolerance=tolerance)
    console.print(
        f"study '{study}': {len(done.points)} finished trial(s), "
        f"{sum(done.wasted.values())} wasted ({done.wasted_share:.0%}: {counted(done.wasted)})",
        markup=False,
    )
    for line in done.changes() or [NOTHING_TO_CUT]:
        console.print(f"  {line}", markup=False)
    console.print(
        f"refined space '{done.name}' written to {out} ({done.still_in} of the trials fit "
        f"in it); run it with: sweeps run {out}",
        markup=False,
    )
