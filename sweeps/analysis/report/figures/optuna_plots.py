"""Optuna's own plots, restyled: parameter importances, parallel coordinates and slice
plots (the Pareto front is :mod:`.pareto`'s, which leaves failures off it)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from sweeps.analysis.report.data import complete_trials, is_log, swept_distributions, varying_params
from sweeps.analysis.report.figures.style import Section, esc, log_axis, one_line
from sweeps.store import is_multi, primary_value, study_objectives


def importance_section(study: optuna.Study, trials: Sequence[FrozenTrial], metric: str) -> Section:
    section = Section(
        "importances",
        "Parameter importances",
        f"How much of the variation in {esc(metric)} among COMPLETE trials each parameter "
        "explains (Optuna's default evaluator). Pruned and diverged trials do not enter: the "
        "failure map shows those.",
    )
    complete = complete_trials(trials)
    varying, single = varying_params(trials)
    if len(complete) < 2:
        section.notes.append(
            f"Needs at least 2 COMPLETE trials, the study has {len(complete)}: no importances yet."
        )
        return section
    if single:
        section.notes.append(_single_note(single))
    if not varying:
        section.notes.append("No parameter took more than one value: nothing to compare.")
        return section
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="PedAnovaImportanceEvaluator")
            fig = optuna.visualization.plot_param_importances(
                study, params=varying, **_target(study, lower_is_better=True)
            )
    except Exception as exc:  # the evaluators refuse degenerate inputs in several ways
        section.notes.append(f"Importances could not be computed: {esc(one_line(exc))}")
        return section
    fig.update_layout(height=max(260, 60 * len(varying) + 120), title=None, margin={"t": 30})
    section.figures.append(fig)
    return section


def parallel_section(study: optuna.Study, trials: Sequence[FrozenTrial], metric: str) -> Section:
    section = Section(
        "parallel",
        "Parallel coordinates",
        f"COMPLETE trials across the swept parameters, coloured by {esc(metric)}.",
    )
    complete = complete_trials(trials)
    varying, single = varying_params(trials)
    if not complete:
        section.notes.append("No COMPLETE trial yet.")
        return section
    if not varying:
        section.notes.append("No parameter took more than one value among COMPLETE trials.")
        return section
    try:
        fig = optuna.visualization.plot_parallel_coordinate(study, params=varying, **_target(study))
    except Exception as exc:
        section.notes.append(f"Parallel coordinates failed: {esc(one_line(exc))}")
        return section
    fig.update_layout(height=460, title=None, margin={"t": 60})
    section.figures.append(fig)
    if single:
        section.notes.append(_single_note(single))
    return section


def slice_section(study: optuna.Study, trials: Sequence[FrozenTrial], metric: str) -> Section:
    section = Section(
        "slices",
        "Slice plots",
        f"{esc(metric)} of COMPLETE trials against each swept parameter on its own "
        "(colour: trial number).",
    )
    complete = complete_trials(trials)
    varying, single = varying_params(trials)
    if not complete:
        section.notes.append("No COMPLETE trial yet.")
        return section
    dists = swept_distributions(trials)
    for name in varying:
        try:
            fig = optuna.visualization.plot_slice(study, params=[name], **_target(study))
        except Exception as exc:
            section.notes.append(f"Slice plot of {esc(name)} failed: {esc(one_line(exc))}")
            continue
        fig.update_layout(
            height=340, title={"text": name, "x": 0.01}, margin={"t": 40}, showlegend=False
        )
        if is_log(dists[name]):
            fig.update_xaxes(**log_axis(t.params[name] for t in complete if name in t.params))
        section.figures.append(fig)
    if single:
        section.notes.append(_single_note(single))
    if not varying:
        section.notes.append("No parameter took more than one value among COMPLETE trials.")
    return section


def _target(study: optuna.Study, *, lower_is_better: bool = False) -> dict[str, Any]:
    """Optuna's plots need a target with several objectives: the first one (negated for
    the importance evaluator, which looks for low targets, when it is maximised)."""
    if not is_multi(study):
        return {}
    name = study_objectives(study)[0]
    if lower_is_better and study.directions[0] == optuna.study.StudyDirection.MAXIMIZE:
        return {"target": lambda t: -float(t.values[0]), "target_name": f"-{name}"}
    return {"target": primary_value, "target_name": name}


def _single_note(names: Sequence[str]) -> str:
    return (
        "Left out, a single value among COMPLETE trials: " + ", ".join(esc(n) for n in names) + "."
    )
