"""Terminal views of what the analyses find: ``status`` (a study's trials), the stability
map (``status --stability``) and the doctor's ranked changes, as rich tables."""

from __future__ import annotations

import math
from typing import Any

import optuna
from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from sweeps.analysis.anytime import best_so_far, clock, rung_stops
from sweeps.analysis.doctor import DoctorReport, ProbeResult, evidence_text, is_fix
from sweeps.analysis.stability import GROUP_BY, StabilityReport, log_stability, stability_report
from sweeps.runner.diagnosis import warning_lines
from sweeps.store import (
    Store,
    all_failures_note,
    best_trial,
    completed_trials,
    is_copy,
    is_failure,
    is_multi,
    nondominated,
    outcome_counts,
    pareto_front,
    primary_value,
    state_counts,
    study_objectives,
    summary_best,
)
from sweeps.store.schema import (
    ARTIFACT_STABILITY_JSON,
    ARTIFACT_STABILITY_MAP,
    ATTR_OUTCOME,
    ATTR_PARAMS,
    ATTR_RUN_ID,
    ATTR_TEST_ACCURACY,
    STUDY_REFINED_FROM,
)


def render_params() -> Table:
    """The parameter table of ``sweeps params`` (from the trainer's one validator table)."""
    from trainer.config import DEFAULTS, FIELD_HELP, FIELD_NAMES

    table = Table(title="training parameters", title_justify="left", header_style="bold")
    table.add_column("param", no_wrap=True)
    table.add_column("default", no_wrap=True)
    table.add_column("what it is / rule", overflow="fold")
    for name in FIELD_NAMES:
        table.add_row(name, escape(repr(DEFAULTS[name])), escape(FIELD_HELP[name]))
    return table


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
    origin = study.user_attrs.get(STUDY_REFINED_FROM)
    if origin:
        copied = sum(map(is_copy, trials))
        header += f", its space refined from study '{origin}' ({copied} of them copied from it)"
    parts: list[Any] = [header, by_state, by_outcome]
    stops = rung_stops(trials)
    if stops:  # successive halving's losers, apart from the failures above
        by_rung = Table(box=None, header_style="bold")
        by_rung.add_column("stopped at")
        by_rung.add_column("trials", justify="right")
        for rung, n in stops.items():
            by_rung.add_row(f"rung {rung}", str(n))
        parts.append(by_rung)
    best = best_trial(study)
    metric = study_objectives(study)[0]
    if is_multi(study):
        parts.extend(render_pareto(study))
    if best is None and not is_multi(study):  # with several, the front line says why
        parts.append(f"best: none, {all_failures_note(study) or 'no completed trial yet'}")
    elif best is None:
        parts.append("best: none")
    else:
        parts.append(
            f"best trial #{best.number}: {metric}={primary_value(best):.4f}, test accuracy "
            f"{best.user_attrs.get(ATTR_TEST_ACCURACY, float('nan')):.4f}, "
            f"mlflow run {best.user_attrs.get(ATTR_RUN_ID, '-')}"
        )
        curve = best_so_far(study)
        if curve and not is_multi(study):
            found = curve[-1]
            parts.append(
                f"found {clock(found.seconds)} into the study (from its first trial's "
                f"start; the best so far improved {len(curve)} time(s))"
            )
        table = Table(box=None, header_style="bold")
        table.add_column("param")
        table.add_column("value")
        for name, value in sorted(best.params.items()):
            table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
        if "n_layers" in best.params:  # a depth x width space: the architecture it makes
            layers = (best.user_attrs.get(ATTR_PARAMS) or {}).get("hidden_layers")
            table.add_row("(hidden_layers)", str(layers))
        parts.append(table)
    return Group(*parts)


def render_pareto(study: optuna.Study) -> list[Any]:
    """The Pareto front of a multi-objective study: one row per non-dominated trial that
    is not a failure, then the failures that only a failure kept off it."""
    from sweeps.analysis.export import knee

    front = pareto_front(study)
    names = study_objectives(study)
    dirs = [d.name.lower() for d in study.directions]
    left_off = _left_off(study)
    if not front:
        why = all_failures_note(study) or "no completed trial yet"
        return [f"pareto front: none, {why}", *left_off]
    knee_trial = knee(study)
    table = Table(
        title=f"pareto front: {len(front)} trial(s), "
        + ", ".join(f"{n} ({d})" for n, d in zip(names, dirs, strict=True)),
        title_justify="left",
        box=None,
        header_style="bold",
    )
    table.add_column("trial", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("hidden_layers")
    table.add_column("test acc", justify="right")
    table.add_column("pick")
    for t in front:
        params = t.user_attrs.get(ATTR_PARAMS) or {}
        test = t.user_attrs.get(ATTR_TEST_ACCURACY)
        table.add_row(
            str(t.number),
            *(_objective(v) for v in t.values),
            str(params.get("hidden_layers", "-")),
            "-" if test is None else f"{test:.4f}",
            "knee" if knee_trial is not None and t.number == knee_trial.number else "",
        )
    note = "export a point with `sweeps export STUDY --pick N|best:<objective>|knee`"
    return [table, *left_off, note]


def _left_off(study: optuna.Study) -> list[str]:
    """The failures that would be on the front if failures counted: named, so a missing
    fastest (or smallest) trial is explained, not a surprise."""
    kept_off = [t for t in nondominated(completed_trials(study), study.directions) if is_failure(t)]
    if not kept_off:
        return []
    listed = ", ".join(f"#{t.number} {t.user_attrs.get(ATTR_OUTCOME)}" for t in kept_off)
    return [f"left off the front as failures: {escape(listed)}"]


def _objective(value: float) -> str:
    if float(value).is_integer() and abs(value) >= 1:
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1 else f"{value:.3f}"


def render_studies(store: Store) -> Table | str:
    summaries = optuna.get_all_study_summaries(store.optuna)
    if not summaries:
        return f"no studies in {store.describe()}"
    table = Table(title="studies", box=None, header_style="bold")
    for col in ("study", "trials", "best", "started"):
        table.add_column(col)
    for s in sorted(summaries, key=lambda s: s.study_name):
        top = summary_best(store.optuna, s)
        best = primary_value(top) if top is not None else None
        table.add_row(
            s.study_name,
            str(s.n_trials),
            "-" if best is None else f"{best:.4f}",
            str(s.datetime_start)[:19] if s.datetime_start else "-",
        )
    return table


# -- stability ------------------------------------------------------------------------------


def _lr(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def render_stability(report: StabilityReport) -> list[Any]:
    parts: list[Any] = [
        f"stability of study '{report.study_name}': {report.diverged} of "
        f"{report.finished} finished trial(s) diverged"
        + (f" ({report.note})" if report.note else "")
    ]
    table = Table(title="stability map", title_justify="left", header_style="bold")
    for col in GROUP_BY:
        table.add_column(col)
    table.add_column("trials", justify="right")
    table.add_column("diverged", justify="right")
    table.add_column("max stable lr", justify="right")
    table.add_column("min diverged lr", justify="right")
    for r in report.rows:
        table.add_row(
            r.activation,
            r.loss,
            r.optimizer,
            str(r.trials),
            str(r.diverged),
            _lr(r.max_stable_lr),
            _lr(r.min_diverged_lr) + (" (overlaps)" if r.overlap else ""),
        )
    parts.append(table)
    if report.predictors:
        pred = Table(
            title="what predicts divergence (fANOVA on diverged = 1)",
            title_justify="left",
            header_style="bold",
        )
        pred.add_column("param")
        pred.add_column("importance", justify="right")
        pred.add_column("best split", overflow="fold")
        pred.add_column("split acc", justify="right")
        for p in report.predictors:
            pred.add_row(
                p.param,
                "-" if p.importance is None else f"{p.importance:.3f}",
                escape(p.split),
                f"{p.split_accuracy:.0%}",
            )
        parts.append(pred)
    return parts


def show_stability(study: optuna.Study, store: Store, *, console: Console) -> StabilityReport:
    """Print the stability map and predictors and store them on the parent run."""
    report = stability_report(study)
    for part in render_stability(report):
        console.print(part)
    run_id = log_stability(report, store)
    console.print(
        f"stored as {ARTIFACT_STABILITY_MAP} / {ARTIFACT_STABILITY_JSON} on parent run {run_id}"
    )
    return report


# -- doctor ---------------------------------------------------------------------------------


def _acc(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4f}"


def render_report(report: DoctorReport) -> Table:
    """The ranked table: change, outcome after, val accuracy and its change, evidence."""
    base = report.baseline
    table = Table(
        title=(
            f"single changes ranked; baseline {base.outcome}, val acc "
            f"{_acc(base.val_accuracy)} ({report.epochs} epoch(s) per run)"
        ),
        header_style="bold",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("#", justify="right")
    table.add_column("change", no_wrap=True)
    table.add_column("fix", justify="center")
    table.add_column(f"outcome (was {base.outcome})")
    table.add_column("val acc", justify="right")
    table.add_column("Δ", justify="right")
    table.add_column("evidence")
    for i, p in enumerate(report.probes, 1):
        delta = (
            f"{p.val_accuracy - base.val_accuracy:+.3f}"
            if p.val_accuracy is not None and base.val_accuracy is not None
            else "-"
        )
        style = "green" if p.outcome == "ok" else "red" if p.outcome == "diverged" else "yellow"
        table.add_row(
            str(i),
            escape(p.change),
            "yes" if is_fix(base, p) else "",
            f"[{style}]{p.outcome}[/{style}]",
            _acc(p.val_accuracy),
            delta,
            escape(evidence_text(p)),
        )
    return table


def _summary_lines(report: DoctorReport) -> list[str]:
    base = report.baseline
    if base.outcome == "ok":
        best = report.probes[0] if report.probes else None
        line = "the config trains (ok); nothing to fix"
        if best is not None and best.score > base.score:
            line += (
                f"; best single change: {best.change} "
                f"(val acc {_acc(base.val_accuracy)} -> {_acc(best.val_accuracy)})"
            )
        return [line]
    if not report.fixes:
        return [f"no single change fixes it ({base.outcome}); try combining the best ones above"]
    lines = [f"{len(report.fixes)} single change(s) fix it:"]
    for p in report.fixes:
        lines.append(
            f"  fix: {p.change}: {base.outcome} -> {p.outcome}, val acc "
            f"{_acc(base.val_accuracy)} -> {_acc(p.val_accuracy)} ({evidence_text(p)})"
        )
    return lines


class DoctorConsoleView:
    """Prints the doctor's progress and, at the end, its ranked table and the fixes.

    ``quiet`` keeps only the baseline (with its pre-flight warnings) and the result."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.console, self.quiet = console, quiet

    def started(self, name: str, store: Store, changes: int, epochs: int, data: Any) -> None:
        if not self.quiet:
            self.console.print(
                f"doctor: study '{name}' in {store.describe()}; {changes} change(s), "
                f"{epochs} epoch(s) each on {escape(data.name)} "
                f"({len(data.y_train)} training examples)",
                soft_wrap=True,
            )

    def probe_done(
        self, result: ProbeResult, warnings: tuple[Any, ...], *, baseline: bool, cached: bool
    ) -> None:
        if baseline:
            for line in warning_lines(warnings):
                self.console.print(f"[yellow]{escape(line)}[/yellow]", soft_wrap=True)
            self.console.print(
                f"baseline: [bold]{result.outcome}[/bold] ({', '.join(result.labels)}), "
                f"val acc {_acc(result.val_accuracy)} — {escape(result.reason)}",
                soft_wrap=True,
            )
        elif not self.quiet:
            self.console.print(
                f"  {escape(result.change)}: {result.outcome}, val acc "
                f"{_acc(result.val_accuracy)}" + (" (cached)" if cached else ""),
                soft_wrap=True,
            )

    def finished(self, report: DoctorReport) -> None:
        self.console.print(render_report(report))
        for line in _summary_lines(report):
            self.console.print(escape(line), soft_wrap=True)
