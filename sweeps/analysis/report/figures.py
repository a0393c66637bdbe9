"""The report's sections: plotly figures (history, failure map, learning curves, Optuna's
importance / parallel / slice plots) and the HTML tables beside them."""

from __future__ import annotations

import html
import math
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeps.analysis.report.data import (
    FINISHED,
    MAP_AXES,
    N_BEST,
    Curve,
    complete_trials,
    is_log,
    map_axes,
    outcome_of,
    sort_best,
    swept_distributions,
    trial_value,
    varying_params,
)
from sweeps.store import best_trial, is_multi, pareto_front, primary_value, study_objectives
from sweeps.store.schema import (
    ATTR_PARAMS,
    ATTR_REASON,
    ATTR_RUN_ID,
    ATTR_TEST_ACCURACY,
    STUDY_METRIC,
)

MAX_TABLE_ROWS = 1000


# Fixed colours for the labels we know; any other label gets the next spare colour.
OUTCOME_COLORS = {
    "ok": "#2ca02c",
    "pruned": "#ff7f0e",
    "diverged": "#d62728",
    "stuck": "#9467bd",
    "slow": "#dbb40c",
    "exploded": "#8c2d04",
    "saturated": "#e377c2",
    "dead_units": "#17becf",
    "symmetric": "#bcbd22",
    "failed": "#7f7f7f",
    "interrupted": "#8c564b",
    "killed": "#8c564b",
    "running": "#c7c7c7",
}


_SPARE_COLORS = (
    "#1f77b4",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#31a354",
    "#756bb1",
    "#636363",
)


_STATE_SYMBOL = {"COMPLETE": "circle", "PRUNED": "diamond", "FAIL": "x"}


PLOT_CONFIG = {"displaylogo": False, "responsive": True}


@dataclass
class Section:
    """One titled part of the page: figures (plotly), notes, and raw HTML (tables)."""

    anchor: str
    title: str
    intro: str = ""
    figures: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    html: str = ""


def outcome_colors(labels: Iterable[str]) -> dict[str, str]:
    """A stable colour per outcome label: fixed ones for known labels, spares for others."""
    out: dict[str, str] = {}
    spare = iter(_SPARE_COLORS * 10)
    for label in sorted(set(labels)):
        out[label] = OUTCOME_COLORS.get(label) or next(spare)
    return out


def build_sections(
    study: optuna.Study,
    trials: Sequence[FrozenTrial],
    curves: Sequence[Curve],
    curve_notes: Sequence[str],
) -> list[Section]:
    metric = str(study.user_attrs.get(STUDY_METRIC, "value"))
    return [
        summary_section(study, trials),
        *([pareto_section(study, trials)] if is_multi(study) else []),
        history_section(study, trials, metric),
        failure_map_section(trials),
        curves_section(curves, curve_notes, metric),
        importance_section(study, trials, metric),
        parallel_section(study, trials, metric),
        slice_section(study, trials, metric),
        trials_section(trials),
    ]


def summary_section(study: optuna.Study, trials: Sequence[FrozenTrial]) -> Section:
    section = Section("summary", "Summary")
    states = [s for s in TrialState if any(t.state == s for t in trials)]
    counts = Counter((outcome_of(t), t.state.name) for t in trials)
    labels = sorted({outcome_of(t) for t in trials})
    colors = outcome_colors(labels)
    if not trials:
        section.notes.append("The study has no trials yet.")
        return section
    head = "".join(f"<th>{s.name}</th>" for s in states)
    rows = []
    for label in labels:
        cells = "".join(
            f"<td class='num'>{counts.get((label, s.name), 0) or ''}</td>" for s in states
        )
        total = sum(counts.get((label, s.name), 0) for s in states)
        rows.append(
            f"<tr><td>{_swatch(colors[label])}{esc(label)}</td>{cells}"
            f"<td class='num'><b>{total}</b></td></tr>"
        )
    totals = "".join(
        f"<td class='num'><b>{sum(1 for t in trials if t.state == s)}</b></td>" for s in states
    )
    rows.append(
        f"<tr class='total'><td>all</td>{totals}<td class='num'><b>{len(trials)}</b></td></tr>"
    )
    table = (
        "<table class='counts' id='counts'><thead><tr><th>outcome \\ state</th>"
        f"{head}<th>total</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    section.html = table + best_config_html(study, trials)
    return section


def best_config_html(study: optuna.Study, trials: Sequence[FrozenTrial]) -> str:
    best = best_trial(study)
    if best is None:
        return "<p class='note' id='best-config'>No completed trial yet: no best config.</p>"
    params = best.user_attrs.get(ATTR_PARAMS)
    if not isinstance(params, dict):
        params = dict(best.params)
    swept = swept_distributions(trials)
    rows = "".join(
        f"<tr{' class=swept' if name in swept else ''}><td>{esc(name)}</td>"
        f"<td>{esc(_fmt_value(value))}</td></tr>"
        for name, value in params.items()
    )
    test_acc = best.user_attrs.get(ATTR_TEST_ACCURACY)
    facts = [
        ", ".join(
            f"{esc(n)} = <b>{_objective_text(v)}</b>"
            for n, v in zip(study_objectives(study), best.values or [], strict=False)
        ),
        f"test accuracy {test_acc:.4f}" if isinstance(test_acc, int | float) else "",
        f"outcome {esc(outcome_of(best))}",
        f"MLflow run <code>{esc(str(best.user_attrs.get(ATTR_RUN_ID, '-')))}</code>",
    ]
    return (
        f"<h3 id='best-config'>Best config: trial #{best.number}</h3>"
        f"<p>{' · '.join(f for f in facts if f)}</p>"
        "<p class='note'>Swept parameters in bold; <code>sweeps export</code> writes this dict "
        "and <code>sweeps train --params</code> retrains it.</p>"
        f"<table class='params'><thead><tr><th>param</th><th>value</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def history_section(study: optuna.Study, trials: Sequence[FrozenTrial], metric: str) -> Section:
    import plotly.graph_objects as go

    section = Section(
        "history",
        "Optimisation history",
        f"{esc(metric)} per trial, coloured by outcome. Filled circles are COMPLETE trials "
        "(their value); diamonds are PRUNED trials at the last value they reported. "
        "The line is the best COMPLETE value so far.",
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
    colors = outcome_colors(outcome_of(t) for t, _ in points)
    fig = go.Figure()
    for label, color in colors.items():
        group = [(t, v) for t, v in points if outcome_of(t) == label]
        fig.add_trace(
            go.Scatter(
                x=[t.number for t, _ in group],
                y=[v for _, v in group],
                mode="markers",
                name=label,
                marker={
                    "color": color,
                    "size": 10,
                    "symbol": [_STATE_SYMBOL.get(t.state.name, "circle") for t, _ in group],
                    "line": {"width": 1, "color": "white"},
                },
                text=[_hover(t) for t, _ in group],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    best = sort_best(study, trials)
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
                x=[_axis_value(t.params[x_name]) for t in group],
                y=(
                    [_axis_value(t.params[y_name]) for t in group]
                    if y_name
                    else [label] * len(group)
                ),
                mode="markers",
                name=f"{label} ({len(group)})",
                marker={
                    "color": colors[label],
                    "size": 12,
                    "opacity": 0.85,
                    "symbol": [_STATE_SYMBOL.get(t.state.name, "circle") for t in group],
                    "line": {"width": 1, "color": "white"},
                },
                text=[_hover(t) for t in group],
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


def log_axis(values: Iterable[Any]) -> dict[str, Any]:
    """A log axis with readable labels: one per decade when the values span several, else
    at 1-2-5 (or finer) steps. Plotly's own short log axes label minor ticks with a bare
    digit ("2", "5"), which reads as a value."""
    positive = [float(v) for v in values if isinstance(v, int | float) and v > 0]
    if not positive:
        return {"type": "log"}
    lo, hi = min(positive), max(positive)
    decades = math.log10(hi / lo)
    steps = (1.0,) if decades > 2 else (1.0, 2.0, 5.0) if decades > 0.7 else (1, 1.5, 2, 3, 5, 7)
    ticks = [
        m * 10.0**e
        for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        for m in steps
        if lo / 1.3 <= m * 10.0**e <= hi * 1.3
    ]
    if len(ticks) < 2:
        return {"type": "log"}
    return {"type": "log", "tickvals": ticks, "ticktext": [f"{t:.3g}" for t in ticks]}


def _axis_value(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


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
        f"Per-epoch histories of the {N_BEST} best trials that trained (outcome ok; solid, "
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


def _objective_text(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.6g}"


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
        + "".join(f"<td class='num'>{_objective_text(v)}</td>" for v in t.values)
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


def trials_section(trials: Sequence[FrozenTrial]) -> Section:
    section = Section("trials", "All trials")
    if not trials:
        section.notes.append("No trials.")
        return section
    names = list(swept_distributions(trials))
    colors = outcome_colors(outcome_of(t) for t in trials)
    head = "".join(
        f"<th>{esc(h)}</th>" for h in ("#", "state", "outcome", "value", *names, "reason")
    )
    rows = []
    for t in trials[:MAX_TABLE_ROWS]:
        label = outcome_of(t)
        params = "".join(
            f"<td>{esc(_fmt_value(t.params[n])) if n in t.params else ''}</td>" for n in names
        )
        value = " / ".join(f"{v:.4g}" for v in t.values) if t.values else ""
        rows.append(
            f"<tr><td class='num'>{t.number}</td><td>{t.state.name}</td>"
            f"<td>{_swatch(colors[label])}{esc(label)}</td><td class='num'>{value}</td>"
            f"{params}<td class='reason'>{esc(str(t.user_attrs.get(ATTR_REASON, '')))}</td></tr>"
        )
    section.html = (
        f"<table class='trials' id='trials-table'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    if len(trials) > MAX_TABLE_ROWS:
        section.notes.append(
            f"First {MAX_TABLE_ROWS} of {len(trials)} trials; `sweeps trials` exports them all."
        )
    return section


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_fmt_value(v) for v in value) + "]"
    return str(value)


def _hover(t: FrozenTrial) -> str:
    value = trial_value(t)
    params = "<br>".join(f"{esc(k)}={esc(_fmt_value(v))}" for k, v in sorted(t.params.items()))
    reason = esc(str(t.user_attrs.get(ATTR_REASON, "")))
    if len(reason) > 160:
        reason = reason[:157] + "..."
    return (
        f"trial #{t.number} · {t.state.name} · <b>{esc(outcome_of(t))}</b>"
        + (f" · {value:.4f}" if value is not None else "")
        + (f"<br>{params}" if params else "")
        + (f"<br>{reason}" if reason else "")
    )


def _swatch(color: str) -> str:
    return f"<span class='swatch' style='background:{color}'></span>"


def one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
