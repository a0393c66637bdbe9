"""The plots coloured by outcome: the optimisation history (every finished trial's value,
the best so far) and the failure map (every finished trial on two swept parameters)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial

from sweeps.analysis.report.data import (
    FINISHED,
    MAP_AXES,
    is_log,
    map_axes,
    outcome_of,
    sort_best,
    swept_distributions,
    trial_value,
)
from sweeps.analysis.report.figures.style import (
    STATE_SYMBOL,
    Section,
    axis_value,
    esc,
    hover_text,
    log_axis,
    outcome_colors,
    outcome_traces,
)
from sweeps.store import is_failure


def history_section(study: optuna.Study, trials: Sequence[FrozenTrial], metric: str) -> Section:
    import plotly.graph_objects as go

    section = Section(
        "history",
        "Optimisation history",
        f"{esc(metric)} per trial, coloured by outcome. Filled circles are COMPLETE trials "
        "(their value); diamonds are PRUNED trials at the last value they reported. "
        "The line is the best COMPLETE value so far, failures (stuck, slow, ...) left out: "
        "they are never the best.",
    )
    points: list[tuple[FrozenTrial, float]] = []
    missing: list[FrozenTrial] = []
    for t in trials:
        if t.state not in FINISHED:
            continue
        value = trial_value(t)
        if value is None:
            missing.append(t)
        else:
            points.append((t, value))
    if not points:
        section.notes.append("No trial has reported a value yet: nothing to plot.")
        _note_missing(section, missing)
        return section
    fig = go.Figure()
    for trace in outcome_traces([(t, t.number, v) for t, v in points], size=10):
        fig.add_trace(trace)
    best = [t for t in sort_best(study, trials) if not is_failure(t)]
    if best:
        maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
        xs, ys, current = [], [], None
        for t in sorted(best, key=lambda t: t.number):
            v = float(t.values[0])
            if current is None or (v > current if maximize else v < current):
                current = v
            xs.append(t.number)
            ys.append(current)
        last = max(t.number for t in trials)
        fig.add_trace(
            go.Scatter(
                x=[*xs, last],
                y=[*ys, ys[-1]],
                mode="lines",
                line={"shape": "hv", "color": "#333", "width": 1.5},
                name="best so far",
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        xaxis_title="trial",
        xaxis_dtick=1 if len(trials) <= 20 else None,
        yaxis_title=metric,
        height=420,
        legend_title_text="outcome",
        margin={"t": 30},
    )
    section.figures.append(fig)
    _note_missing(section, missing)
    return section


def _note_missing(section: Section, missing: Sequence[FrozenTrial]) -> None:
    if missing:
        listed = ", ".join(f"#{t.number} ({outcome_of(t)})" for t in missing[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        section.notes.append(
            f"{len(missing)} finished trial(s) have no value to plot (diverged before an epoch "
            f"ended, or failed): {listed}{more}."
        )


def failure_map_section(trials: Sequence[FrozenTrial]) -> Section:
    import plotly.graph_objects as go

    section = Section("failure-map", "Failure map")
    dists = swept_distributions(trials)
    axes = map_axes(trials)
    finished = [t for t in trials if t.state in FINISHED and all(a in t.params for a in axes)]
    if not axes:
        section.notes.append("No parameter is swept: there is no space to map.")
        return section
    if not finished:
        section.notes.append("No finished trial yet: nothing to map.")
        return section
    x_name = axes[0]
    y_name = axes[1] if len(axes) > 1 else None
    if tuple(axes) == MAP_AXES:
        why = "learning rate × init scale"
    elif y_name is None:
        why = f"the only swept parameter, {esc(x_name)}"
    else:
        why = (
            f"{esc(x_name)} × {esc(y_name)}, the swept parameters that best separate the outcomes "
            "(learning_rate and weight_init_scale are not both swept)"
        )
    section.intro = (
        f"Every finished trial at its {why}, coloured by outcome. "
        "Circles: COMPLETE, diamonds: PRUNED, crosses: FAIL. Hover for the reason."
    )
    labels = sorted({outcome_of(t) for t in finished})
    colors = outcome_colors(labels)
    fig = go.Figure()
    for label in labels:
        group = [t for t in finished if outcome_of(t) == label]
        fig.add_trace(
            go.Scatter(
                x=[axis_value(t.params[x_name]) for t in group],
                y=(
                    [axis_value(t.params[y_name]) for t in group]
                    if y_name
                    else [label] * len(group)
                ),
                mode="markers",
                name=f"{label} ({len(group)})",
                marker={
                    "color": colors[label],
                    "size": 12,
                    "opacity": 0.85,
                    "symbol": [STATE_SYMBOL.get(t.state.name, "circle") for t in group],
                    "line": {"width": 1, "color": "white"},
                },
                text=[hover_text(t) for t in group],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    fig.update_layout(
        height=520,
        xaxis_title=x_name,
        yaxis_title=y_name or "outcome",
        legend_title_text="outcome",
        margin={"t": 30},
    )
    if is_log(dists[x_name]):
        fig.update_xaxes(**log_axis(t.params[x_name] for t in finished))
    if y_name and is_log(dists[y_name]):
        fig.update_yaxes(**log_axis(t.params[y_name] for t in finished))
    section.figures.append(fig)
    counts = Counter(outcome_of(t) for t in finished)
    section.notes.append(
        "Outcomes mapped: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + "."
    )
    return section
