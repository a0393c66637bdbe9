"""Best so far against the clock: how soon the study held a good config, with every
finished trial at the moment it ended (the anytime view a sweep is judged by)."""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial

from sweeps.analysis.anytime import best_so_far, clock, started_at
from sweeps.analysis.report.data import FINISHED, trial_value
from sweeps.analysis.report.figures.style import Section, esc, outcome_traces


def clock_section(study: optuna.Study, trials: Sequence[FrozenTrial], metric: str) -> Section:
    import plotly.graph_objects as go

    section = Section(
        "clock",
        "Best so far against the clock",
        f"The best COMPLETE {esc(metric)} so far (failures left out: never the best) against "
        "the seconds since the study's first trial started; each finished trial is a point "
        "at the moment it ended, coloured by outcome (diamonds: PRUNED, at the last value "
        "reported, such as a rung's).",
    )
    start = started_at(trials)
    ended = [
        (t, t.datetime_complete.timestamp() - start, value)
        for t in trials
        if start is not None
        and t.state in FINISHED
        and t.datetime_complete is not None
        and (value := trial_value(t)) is not None
    ]
    best = best_so_far(study)
    if not ended or not best:
        section.notes.append("No trial has completed yet: nothing to plot.")
        return section
    fig = go.Figure()
    for trace in outcome_traces(ended, size=8, hover="%{x:.1f} s<br>"):
        fig.add_trace(trace)
    last = max(s for _, s, _ in ended)
    fig.add_trace(
        go.Scatter(
            x=[p.seconds for p in best] + [last],
            y=[p.value for p in best] + [best[-1].value],
            mode="lines",
            line={"shape": "hv", "color": "#333", "width": 1.5},
            name="best so far",
            text=[f"trial #{p.number}" for p in best] + [""],
            hovertemplate="%{x:.1f} s: %{y:.4f} %{text}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title="seconds since the study's first trial started",
        yaxis_title=metric,
        height=420,
        legend_title_text="outcome",
        margin={"t": 30},
    )
    section.figures.append(fig)
    found = best[-1]
    section.notes.append(
        f"The best so far ({found.value:.4f}, trial #{found.number}) was found at "
        f"{clock(found.seconds)}, out of {clock(last)} until the last trial ended."
    )
    return section
