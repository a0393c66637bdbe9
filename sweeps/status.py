"""``sweeps status``: what a study holds, as rich tables."""

from __future__ import annotations

from typing import Any

import optuna
from rich.console import Group
from rich.table import Table

from sweeps.store import Store, optuna_storage
from sweeps.study import best_trial, outcome_counts, state_counts


def render_status(study: optuna.Study) -> Group:
    """Trials by state and by outcome, and the best trial with its params and run id."""
    trials = study.get_trials(deepcopy=False)
    by_state = Table(box=None, header_style="bold")
    by_state.add_column("state")
    by_state.add_column("trials", justify="right")
    for state, n in state_counts(trials).items():
        if n:
            by_state.add_row(state, str(n))
    by_outcome = Table(box=None, header_style="bold")
    by_outcome.add_column("outcome")
    by_outcome.add_column("trials", justify="right")
    for outcome, n in sorted(outcome_counts(trials).items()):
        by_outcome.add_row(outcome, str(n))
    header = f"study '{study.study_name}': {len(trials)} trial(s)"
    parts: list[Any] = [header, by_state, by_outcome]
    best = best_trial(study)
    metric = study.user_attrs.get("metric", "value")
    if best is None:
        parts.append("best: no completed trial yet")
    else:
        parts.append(
            f"best trial #{best.number}: {metric}={best.value:.4f}, test accuracy "
            f"{best.user_attrs.get('test_accuracy', float('nan')):.4f}, "
            f"mlflow run {best.user_attrs.get('mlflow_run_id', '-')}"
        )
        table = Table(box=None, header_style="bold")
        table.add_column("param")
        table.add_column("value")
        for name, value in sorted(best.params.items()):
            table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
        parts.append(table)
    return Group(*parts)


def render_studies(store: Store) -> Table | str:
    summaries = optuna.get_all_study_summaries(optuna_storage(store))
    if not summaries:
        return f"no studies in {store.describe()}"
    table = Table(title="studies", box=None, header_style="bold")
    for col in ("study", "trials", "best", "started"):
        table.add_column(col)
    for s in sorted(summaries, key=lambda s: s.study_name):
        best = s.best_trial.value if s.best_trial is not None else None
        table.add_row(
            s.study_name,
            str(s.n_trials),
            "-" if best is None else f"{best:.4f}",
            str(s.datetime_start)[:19] if s.datetime_start else "-",
        )
    return table
