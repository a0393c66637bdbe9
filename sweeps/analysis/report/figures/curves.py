"""The learning curves: per-epoch histories of the best and of diverged trials, one panel
per metric."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sweeps.analysis.report.data import N_BEST, Curve, outcome_of
from sweeps.analysis.report.figures.style import FAILURE_COLOR, Section, log_axis
from sweeps.store import primary_value


def curves_figure(curves: Sequence[Curve], title: str = "") -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    keys: list[str] = []
    for c in curves:
        for k in c.series:
            if k not in keys:
                keys.append(k)
    cols = 2 if len(keys) > 1 else 1
    rows = math.ceil(len(keys) / cols)
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=keys, horizontal_spacing=0.08, vertical_spacing=0.14
    )
    best_shades = ("#1a7f37", "#4caf50", "#8bc34a", "#2e7d32")
    bad_shades = ("#d62728", "#ff7f0e", "#e6550d", "#a50f15")
    n_best = n_bad = 0
    for c in curves:
        if c.role == "best":
            color, dash = best_shades[n_best % 4], "solid"
            n_best += 1
        elif c.role == "failure":  # no trial that is not a failure completed
            color, dash = FAILURE_COLOR, "dot"
        else:
            color, dash = bad_shades[n_bad % 4], "dash"
            n_bad += 1
        first = primary_value(c.trial)
        value = f" {first:.4f}" if first is not None else ""
        name = f"#{c.trial.number} {outcome_of(c.trial)}{value}"
        if c.source == "optuna":
            name += " (optuna)"
        for i, key in enumerate(keys):
            points = c.series.get(key)
            if not points:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[s for s, _ in points],
                    y=[v for _, v in points],
                    mode="lines+markers",
                    name=name,
                    legendgroup=f"t{c.trial.number}",
                    showlegend=i == next(j for j, k in enumerate(keys) if c.series.get(k)),
                    line={"color": color, "dash": dash},
                    hovertemplate=f"trial #{c.trial.number} {key}: %{{y:.4g}} (epoch %{{x}})"
                    "<extra></extra>",
                ),
                row=i // cols + 1,
                col=i % cols + 1,
            )
    for i, key in enumerate(keys):
        values = [v for c in curves for _, v in c.series.get(key, [])]
        if key in ("loss", "val_loss", "grad_norm") and values and min(values) > 0:
            fig.update_yaxes(**log_axis(values), row=i // cols + 1, col=i % cols + 1)
        fig.update_xaxes(title_text="epoch", row=i // cols + 1, col=i % cols + 1, dtick=1)
    fig.update_layout(
        height=320 * rows + 60, margin={"t": 60 if title else 40}, title=title or None
    )
    return fig


def curves_section(curves: Sequence[Curve], notes: Sequence[str], metric: str) -> Section:
    section = Section(
        "curves",
        "Learning curves",
        f"Per-epoch histories of the {N_BEST} best trials that trained (not a failure; solid, "
        "green) and of diverged trials (dashed, red), from their MLflow runs; loss and "
        "gradient norm on a log scale. Click a legend entry to hide a trial in every panel.",
    )
    drawn = [c for c in curves if c.series]
    if drawn:
        section.figures.append(curves_figure(drawn))
    else:
        section.notes.append("No trial has a per-epoch history yet.")
    section.notes.extend(notes)
    return section
