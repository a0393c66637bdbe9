"""Optuna's own plots, restyled: parameter importances, parallel coordinates, slice plots
and the Pareto front of a multi-objective study."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from sweeps.analysis.report.data import complete_trials, is_log, swept_distributions, varying_params
from sweeps.analysis.report.figures.style import Section, esc, log_axis, objective_text, one_line
from sweeps.store import is_multi, pareto_front, primary_value, study_objectives
from sweeps.store.schema import ATTR_PARAMS


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


def pareto_section(study: optuna.Study, trials: Sequence[FrozenTrial]) -> Section:
    """The trade-off between the objectives: every COMPLETE trial, the front highlighted."""
    names = study_objectives(study)
    dirs = [d.name.lower() for d in study.directions]
    section = Section(
        "pareto",
        "Pareto front",
        "COMPLETE trials on "
        + " against ".join(f"{esc(n)} ({d})" for n, d in zip(names, dirs, strict=True))
        + ". The front (red) holds the trials no other trial beats on every objective; "
        "<code>sweeps export STUDY --pick N|best:&lt;objective&gt;|knee</code> writes one.",
    )
    front = pareto_front(study)
    if not front:
        section.notes.append("No COMPLETE trial yet: no front.")
        return section
    if len(names) <= 3:
        try:
            fig = optuna.visualization.plot_pareto_front(
                study, target_names=names, include_dominated_trials=True
            )
            _restyle_pareto(fig, len(front), names)
            fig.update_layout(height=480, title=None, margin={"t": 30})
            section.figures.append(fig)
        except Exception as exc:
            section.notes.append(f"Pareto plot failed: {esc(one_line(exc))}")
    head = "".join(f"<th>{esc(h)}</th>" for h in ("#", *names, "hidden_layers"))
    rows = "".join(
        f"<tr><td class='num'>{t.number}</td>"
        + "".join(f"<td class='num'>{objective_text(v)}</td>" for v in t.values)
        + f"<td>{esc(str((t.user_attrs.get(ATTR_PARAMS) or {}).get('hidden_layers', '-')))}</td>"
        "</tr>"
        for t in front
    )
    section.html = (
        f"<table class='params' id='pareto-table'><thead><tr>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    return section


def _restyle_pareto(fig: Any, n_front: int, names: Sequence[str]) -> None:
    """Front in red, dominated trials in grey (Optuna shades both by trial number, which
    leaves early front trials nearly white); sizes and counts on a log axis."""
    for trace in fig.data:
        on_front = len(trace.x) == n_front and trace is fig.data[-1]
        trace.marker.color = "#d62728" if on_front else "#9e9e9e"
        trace.marker.showscale = False
        trace.marker.size = 11 if on_front else 8
        trace.name = "Pareto front" if on_front else "dominated"
        trace.showlegend = True
    fig.update_layout(legend={"x": 1.02, "y": 1})
    axes = ("xaxis", "yaxis", "zaxis")
    for axis, name in zip(axes, names, strict=False):
        if name in ("params_count", "seconds_per_epoch") and len(names) == 2:
            fig.update_layout({axis: {"type": "log"}})


def _single_note(names: Sequence[str]) -> str:
    return (
        "Left out, a single value among COMPLETE trials: " + ", ".join(esc(n) for n in names) + "."
    )
