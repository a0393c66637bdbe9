"""The Pareto front of a multi-objective study: every COMPLETE trial on the objectives, the
front in red, and the failures apart, greyed with their label.

Optuna's ``plot_pareto_front`` computes its own front over every COMPLETE trial, so a
stuck net that is merely the fastest would be drawn on it; the figure is drawn here from
:func:`~sweeps.store.pareto_front`, which leaves failures off (:func:`~sweeps.store.is_failure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from sweeps.analysis.report.data import outcome_of
from sweeps.analysis.report.figures.style import (
    FAILURE_COLOR,
    Section,
    esc,
    hover_text,
    objective_text,
    one_line,
)
from sweeps.store import (
    completed_trials,
    is_failure,
    nondominated,
    pareto_front,
    study_objectives,
)
from sweeps.store.schema import ATTR_PARAMS

FRONT_COLOR = "#d62728"
DOMINATED_COLOR = "#757575"
LOG_OBJECTIVES = ("params_count", "seconds_per_epoch")
"""Objectives that span decades: a log axis when they are one of two."""


def pareto_section(study: optuna.Study, trials: Sequence[FrozenTrial]) -> Section:
    """The trade-off between the objectives: every COMPLETE trial, the front highlighted,
    failures greyed apart; the front's table, and the failures it left off."""
    names = study_objectives(study)
    dirs = [d.name.lower() for d in study.directions]
    section = Section(
        "pareto",
        "Pareto front",
        "COMPLETE trials on "
        + " against ".join(f"{esc(n)} ({d})" for n, d in zip(names, dirs, strict=True))
        + ". The front (red) holds the trials no other trial beats on every objective; "
        "a trial whose outcome is a failure (stuck, diverged, ...; light grey crosses, by "
        "label) is never on it, however fast or small. "
        "<code>sweeps export STUDY --pick N|best:&lt;objective&gt;|knee</code> writes one.",
    )
    front = pareto_front(study)
    complete = completed_trials(study)
    if not complete:
        section.notes.append("No COMPLETE trial yet: no front.")
        return section
    if len(names) <= 3:
        try:
            section.figures.append(_figure(complete, front, names))
        except Exception as exc:
            section.notes.append(f"Pareto plot failed: {esc(one_line(exc))}")
    if front:
        section.html = _table("pareto-table", front, names, failures=False)
    else:
        section.notes.append("Every COMPLETE trial is a failure: no front.")
    left_off = [t for t in nondominated(complete, study.directions) if is_failure(t)]
    if left_off:
        section.html += (
            "<h3>Left off the front: failures</h3><p class='note'>These would be on the "
            "front if failures counted.</p>"
            + _table("pareto-failures", left_off, names, failures=True)
        )
    return section


def _figure(complete: Sequence[FrozenTrial], front: Sequence[FrozenTrial], names: list[str]) -> Any:
    """Dominated trials (grey), failures (light grey crosses, one trace per label) and the
    front (red, on top); two objectives on a plane, three in space."""
    import plotly.graph_objects as go

    on_front = {t.number for t in front}
    failed = [t for t in complete if is_failure(t)]
    dominated = [t for t in complete if t.number not in on_front and not is_failure(t)]
    fig = go.Figure()
    fig.add_trace(_trace(dominated, "dominated", DOMINATED_COLOR, "circle", 8, len(names)))
    for label in sorted({outcome_of(t) for t in failed}):
        group = [t for t in failed if outcome_of(t) == label]
        name = f"{label} (failure, {len(group)})"
        fig.add_trace(_trace(group, name, FAILURE_COLOR, "x", 8, len(names)))
    fig.add_trace(_trace(front, "Pareto front", FRONT_COLOR, "circle", 11, len(names)))
    fig.update_layout(height=480, margin={"t": 30}, legend={"x": 1.02, "y": 1})
    if len(names) == 3:
        fig.update_layout(
            scene={"xaxis_title": names[0], "yaxis_title": names[1], "zaxis_title": names[2]}
        )
        return fig
    fig.update_layout(xaxis_title=names[0], yaxis_title=names[1])
    for axis, name in zip(("xaxis", "yaxis"), names, strict=True):
        if name in LOG_OBJECTIVES:
            fig.update_layout({axis: {"type": "log"}})
    return fig


def _trace(
    trials: Sequence[FrozenTrial], name: str, color: str, symbol: str, size: int, dims: int
) -> Any:
    import plotly.graph_objects as go

    coords = {axis: [t.values[i] for t in trials] for i, axis in enumerate("xyz"[:dims])}
    style = {
        "mode": "markers",
        "name": name,
        "marker": {"color": color, "symbol": symbol, "size": size},
        "text": [hover_text(t) for t in trials],
        "hovertemplate": "%{text}<extra></extra>",
        "showlegend": True,
    }
    return go.Scatter3d(**coords, **style) if dims == 3 else go.Scatter(**coords, **style)


def _table(anchor: str, trials: Sequence[FrozenTrial], names: list[str], *, failures: bool) -> str:
    """One row per trial: number, objectives, architecture; failures greyed, with their
    label."""
    heads = ("#", *(["outcome"] if failures else []), *names, "hidden_layers")
    head = "".join(f"<th>{esc(h)}</th>" for h in heads)
    row_class = " class='failure'" if failures else ""
    rows = "".join(
        f"<tr{row_class}><td class='num'>{t.number}</td>"
        + (f"<td>{esc(outcome_of(t))}</td>" if failures else "")
        + "".join(f"<td class='num'>{objective_text(v)}</td>" for v in t.values)
        + f"<td>{esc(str((t.user_attrs.get(ATTR_PARAMS) or {}).get('hidden_layers', '-')))}</td>"
        "</tr>"
        for t in trials
    )
    return (
        f"<table class='params' id='{anchor}'><thead><tr>{head}</tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
