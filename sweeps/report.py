"""``sweeps report``: one self-contained HTML page of plots for a study.

The page holds, in order: a summary (trials by state and outcome, the best config), the
optimisation history, a **failure map** (learning rate x init scale, or the two parameters
that best separate the outcomes, every finished trial coloured by its outcome), learning
curves of the best and of diverged trials (per-epoch metric histories from their MLflow
runs, or Optuna's intermediate values when a run has none), parameter importances,
parallel coordinates, a slice plot per parameter, and the table of all trials. Where a plot
cannot be drawn (too few trials, a parameter with one value) the page says why instead.

plotly.js is embedded once, inline, so the file opens offline. The same page is logged to
the study's MLflow parent run as ``report.html``, and the best trial's learning curve to
its own run as ``learning_curve.html``.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from sweeps.store import Store
from sweeps.study import best_trial
from sweeps.tracking import TAG_PARENT, TAG_ROLE

log = logging.getLogger(__name__)

REPORT_ARTIFACT = "report.html"
CURVE_ARTIFACT = "learning_curve.html"
N_BEST = 3
N_DIVERGED = 3
MAX_TABLE_ROWS = 1000
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

# Fixed colours for the labels we know; any other label gets the next spare colour.
OUTCOME_COLORS = {
    "ok": "#2ca02c",
    "pruned": "#ff7f0e",
    "diverged": "#d62728",
    "stuck": "#9467bd",
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
# the failure map prefers these two axes when both are swept
MAP_AXES = ("learning_rate", "weight_init_scale")
_PLOT_CONFIG = {"displaylogo": False, "responsive": True}
_PARTNER = {
    "val_accuracy": "val_loss",
    "val_loss": "val_accuracy",
    "accuracy": "loss",
    "loss": "accuracy",
}


# -- what the report is made of ----------------------------------------------------------


@dataclass
class Section:
    """One titled part of the page: figures (plotly), notes, and raw HTML (tables)."""

    anchor: str
    title: str
    intro: str = ""
    figures: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    html: str = ""


@dataclass
class Curve:
    """Per-epoch histories of one trial: metric name -> [(epoch, value)]."""

    trial: FrozenTrial
    role: str  # "best" or "diverged"
    series: dict[str, list[tuple[int, float]]]
    source: str  # "mlflow" or "optuna"


def outcome_of(trial: FrozenTrial) -> str:
    """The trial's outcome label; trials without one (running, foreign) use their state."""
    label = trial.user_attrs.get("outcome")
    return str(label) if label else trial.state.name.lower()


def outcome_colors(labels: Iterable[str]) -> dict[str, str]:
    """A stable colour per outcome label: fixed ones for known labels, spares for others."""
    out: dict[str, str] = {}
    spare = iter(_SPARE_COLORS * 10)
    for label in sorted(set(labels)):
        out[label] = OUTCOME_COLORS.get(label) or next(spare)
    return out


def swept_distributions(trials: Sequence[FrozenTrial]) -> dict[str, BaseDistribution]:
    """Every parameter Optuna suggested in any trial (fixed values are not suggested)."""
    dists: dict[str, BaseDistribution] = {}
    for t in trials:
        for name, dist in t.distributions.items():
            dists.setdefault(name, dist)
    return dict(sorted(dists.items()))


def _is_numeric(dist: BaseDistribution) -> bool:
    return isinstance(dist, FloatDistribution | IntDistribution)


def _is_log(dist: BaseDistribution) -> bool:
    return bool(getattr(dist, "log", False))


def _distinct(trials: Sequence[FrozenTrial], name: str) -> set[str]:
    return {repr(t.params[name]) for t in trials if name in t.params}


def sort_best(study: optuna.Study, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """COMPLETE trials with a finite value, best first."""
    done = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and t.value is not None and math.isfinite(t.value)
    ]
    reverse = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return sorted(done, key=lambda t: (float(t.value or 0.0), -t.number), reverse=reverse)


# -- the entry point -------------------------------------------------------------------------


def write_report(study: optuna.Study, store: Store, out: Path) -> Path:
    """Write the study's report to ``out`` and log it to the study's MLflow parent run."""
    trials = study.get_trials(deepcopy=False)
    client = _client(store)
    curves, curve_notes = collect_curves(study, trials, client)
    sections = build_sections(study, trials, curves, curve_notes)
    page = render_page(study, store, trials, sections)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    if client is not None:
        log_to_mlflow(study, trials, curves, client, page)
    return out


def build_sections(
    study: optuna.Study,
    trials: Sequence[FrozenTrial],
    curves: Sequence[Curve],
    curve_notes: Sequence[str],
) -> list[Section]:
    metric = str(study.user_attrs.get("metric", "value"))
    return [
        summary_section(study, trials),
        history_section(study, trials, metric),
        failure_map_section(trials),
        curves_section(curves, curve_notes, metric),
        importance_section(study, trials, metric),
        parallel_section(study, trials, metric),
        slice_section(study, trials, metric),
        trials_section(trials),
    ]


# -- summary -----------------------------------------------------------------------------


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
            f"<tr><td>{_swatch(colors[label])}{_e(label)}</td>{cells}"
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
    metric = str(study.user_attrs.get("metric", "value"))
    params = best.user_attrs.get("params")
    if not isinstance(params, dict):
        params = dict(best.params)
    swept = swept_distributions(trials)
    rows = "".join(
        f"<tr{' class=swept' if name in swept else ''}><td>{_e(name)}</td>"
        f"<td>{_e(_fmt_value(value))}</td></tr>"
        for name, value in params.items()
    )
    test_acc = best.user_attrs.get("test_accuracy")
    facts = [
        f"{_e(metric)} = <b>{best.value:.4f}</b>" if best.value is not None else "",
        f"test accuracy {test_acc:.4f}" if isinstance(test_acc, int | float) else "",
        f"outcome {_e(outcome_of(best))}",
        f"MLflow run <code>{_e(str(best.user_attrs.get('mlflow_run_id', '-')))}</code>",
    ]
    return (
        f"<h3 id='best-config'>Best config: trial #{best.number}</h3>"
        f"<p>{' · '.join(f for f in facts if f)}</p>"
        "<p class='note'>Swept parameters in bold; <code>sweeps export</code> writes this dict "
        "and <code>sweeps train --params</code> retrains it.</p>"
        f"<table class='params'><thead><tr><th>param</th><th>value</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


# -- optimisation history ----------------------------------------------------------------


def history_section(study: optuna.Study, trials: Sequence[FrozenTrial], metric: str) -> Section:
    import plotly.graph_objects as go

    section = Section(
        "history",
        "Optimisation history",
        f"{_e(metric)} per trial, coloured by outcome. Filled circles are COMPLETE trials "
        "(their value); diamonds are PRUNED trials at the last value they reported. "
        "The line is the best COMPLETE value so far.",
    )
    points: list[tuple[FrozenTrial, float]] = []
    missing: list[FrozenTrial] = []
    for t in trials:
        if t.state not in FINISHED:
            continue
        value = _trial_value(t)
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
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        xs, ys, current = [], [], None
        for t in sorted(best, key=lambda t: t.number):
            v = float(t.value or 0.0)
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


def _trial_value(t: FrozenTrial) -> float | None:
    if t.state == TrialState.COMPLETE and t.value is not None:
        return float(t.value) if math.isfinite(t.value) else None
    finite = [(s, v) for s, v in t.intermediate_values.items() if math.isfinite(v)]
    return float(max(finite)[1]) if finite else None


def _note_missing(section: Section, missing: Sequence[FrozenTrial]) -> None:
    if missing:
        listed = ", ".join(f"#{t.number} ({outcome_of(t)})" for t in missing[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        section.notes.append(
            f"{len(missing)} finished trial(s) have no value to plot (diverged before an epoch "
            f"ended, or failed): {listed}{more}."
        )


# -- failure map ---------------------------------------------------------------------------


def map_axes(trials: Sequence[FrozenTrial]) -> list[str]:
    """The failure map's axes: learning rate x init scale when both are swept, else the
    (up to) two swept parameters that best separate the outcomes, numeric ones first."""
    dists = swept_distributions(trials)
    finished = [t for t in trials if t.state in FINISHED]
    varying = [n for n in dists if len(_distinct(finished, n)) > 1] or list(dists)
    preferred = [n for n in MAP_AXES if n in varying]

    def score(name: str) -> tuple[int, float, str]:
        numeric = _is_numeric(dists[name])
        return (0 if numeric else 1, -separation(finished, name, dists[name]), name)

    rest = sorted((n for n in varying if n not in preferred), key=score)
    return [*preferred, *rest][:2]


def separation(trials: Sequence[FrozenTrial], name: str, dist: BaseDistribution) -> float:
    """How well a parameter separates the outcomes: the correlation ratio (eta squared) of
    its value (log10 for log-scaled ones, choice index for categorical ones) by outcome."""
    pairs: list[tuple[str, float]] = []
    for t in trials:
        if name not in t.params:
            continue
        value = t.params[name]
        if isinstance(dist, CategoricalDistribution):
            try:
                x = float(dist.choices.index(value))
            except ValueError:
                continue
        else:
            x = float(value)
            if _is_log(dist):
                if x <= 0:
                    continue
                x = math.log10(x)
        pairs.append((outcome_of(t), x))
    if len(pairs) < 2:
        return 0.0
    mean = sum(x for _, x in pairs) / len(pairs)
    total = sum((x - mean) ** 2 for _, x in pairs)
    if total == 0:
        return 0.0
    groups: dict[str, list[float]] = {}
    for label, x in pairs:
        groups.setdefault(label, []).append(x)
    between = sum(len(xs) * (sum(xs) / len(xs) - mean) ** 2 for xs in groups.values())
    return between / total


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
        why = f"the only swept parameter, {_e(x_name)}"
    else:
        why = (
            f"{_e(x_name)} × {_e(y_name)}, the swept parameters that best separate the outcomes "
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
    if _is_log(dists[x_name]):
        fig.update_xaxes(**log_axis(t.params[x_name] for t in finished))
    if y_name and _is_log(dists[y_name]):
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


# -- learning curves -----------------------------------------------------------------------


def collect_curves(
    study: optuna.Study, trials: Sequence[FrozenTrial], client: Any
) -> tuple[list[Curve], list[str]]:
    """Histories of the best trials and of diverged ones that finished at least one epoch."""
    notes: list[str] = []
    metric = str(study.user_attrs.get("metric", "value"))
    keys = _curve_keys(metric)
    ranked = sort_best(study, trials)
    # the best trials that trained; a stuck run with a high value is not one of them
    best = [t for t in ranked if outcome_of(t) == "ok"] or ranked
    curves = [_curve(t, "best", keys, metric, client) for t in best[:N_BEST]]
    diverged = [t for t in trials if outcome_of(t) in ("diverged", "exploded")]
    with_history: list[Curve] = []
    without: list[FrozenTrial] = []
    for t in diverged:
        curve = _curve(t, "diverged", keys, metric, client)
        if any(curve.series.values()):
            with_history.append(curve)
        else:
            without.append(t)
    with_history.sort(key=lambda c: (-max(len(s) for s in c.series.values()), c.trial.number))
    curves += with_history[:N_DIVERGED]
    if len(with_history) > N_DIVERGED:
        notes.append(
            f"{len(with_history) - N_DIVERGED} more diverged trial(s) with per-epoch history "
            "are not drawn."
        )
    if without:
        listed = "; ".join(
            f"#{t.number}: {_e(str(t.user_attrs.get('reason', '')))}" for t in without[:8]
        )
        more = f"; and {len(without) - 8} more" if len(without) > 8 else ""
        notes.append(
            f"{len(without)} diverged trial(s) stopped before their first epoch ended, so they "
            f"have no curve: {listed}{more}."
        )
    elif not diverged:
        notes.append("No trial diverged.")
    if any(c.source == "optuna" for c in curves):
        notes.append(
            "Trials marked (optuna) have no MLflow metric history here; their curve is the "
            "study metric Optuna recorded per epoch."
        )
    return curves, notes


def _curve_keys(metric: str) -> list[str]:
    keys = [metric] if metric in _PARTNER else ["val_accuracy"]
    keys.append(_PARTNER[keys[0]])
    for extra in ("loss", "grad_norm"):
        if extra not in keys:
            keys.append(extra)
    return keys


def _curve(t: FrozenTrial, role: str, keys: Sequence[str], metric: str, client: Any) -> Curve:
    series: dict[str, list[tuple[int, float]]] = {}
    run_id = t.user_attrs.get("mlflow_run_id")
    if client is not None and run_id:
        for key in keys:
            try:
                history = client.get_metric_history(str(run_id), key)
            except Exception as exc:  # deleted run, unreachable server
                log.debug("no history for %s/%s: %s", run_id, key, exc)
                history = []
            if not history and key.startswith("val_"):
                # no validation split: the training metric stands in
                try:
                    history = client.get_metric_history(str(run_id), key[4:])
                except Exception:
                    history = []
            points = sorted(
                (int(m.step), float(m.value)) for m in history if math.isfinite(m.value)
            )
            if points:
                series[key] = points
    if series:
        return Curve(t, role, series, "mlflow")
    values = sorted(
        (int(s), float(v)) for s, v in t.intermediate_values.items() if math.isfinite(v)
    )
    key = metric if metric in _PARTNER else keys[0]
    return Curve(t, role, {key: values} if values else {}, "optuna")


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
        value = f" {c.trial.value:.4f}" if c.trial.value is not None else ""
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


# -- optuna's own plots ------------------------------------------------------------------


def _complete(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]


def _varying(trials: Sequence[FrozenTrial]) -> tuple[list[str], list[str]]:
    """Swept params split into those that took more than one value among COMPLETE trials,
    and those that took one value only."""
    complete = _complete(trials)
    varying: list[str] = []
    single: list[str] = []
    for name in swept_distributions(trials):
        (varying if len(_distinct(complete, name)) > 1 else single).append(name)
    return varying, single


def importance_section(study: optuna.Study, trials: Sequence[FrozenTrial], metric: str) -> Section:
    section = Section(
        "importances",
        "Parameter importances",
        f"How much of the variation in {_e(metric)} among COMPLETE trials each parameter "
        "explains (Optuna's default evaluator). Pruned and diverged trials do not enter: the "
        "failure map shows those.",
    )
    complete = _complete(trials)
    varying, single = _varying(trials)
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
        fig = optuna.visualization.plot_param_importances(study, params=varying)
    except Exception as exc:  # the evaluators refuse degenerate inputs in several ways
        section.notes.append(f"Importances could not be computed: {_e(_one_line(exc))}")
        return section
    fig.update_layout(height=max(260, 60 * len(varying) + 120), title=None, margin={"t": 30})
    section.figures.append(fig)
    return section


def parallel_section(study: optuna.Study, trials: Sequence[FrozenTrial], metric: str) -> Section:
    section = Section(
        "parallel",
        "Parallel coordinates",
        f"COMPLETE trials across the swept parameters, coloured by {_e(metric)}.",
    )
    complete = _complete(trials)
    varying, single = _varying(trials)
    if not complete:
        section.notes.append("No COMPLETE trial yet.")
        return section
    if not varying:
        section.notes.append("No parameter took more than one value among COMPLETE trials.")
        return section
    try:
        fig = optuna.visualization.plot_parallel_coordinate(study, params=varying)
    except Exception as exc:
        section.notes.append(f"Parallel coordinates failed: {_e(_one_line(exc))}")
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
        f"{_e(metric)} of COMPLETE trials against each swept parameter on its own "
        "(colour: trial number).",
    )
    complete = _complete(trials)
    varying, single = _varying(trials)
    if not complete:
        section.notes.append("No COMPLETE trial yet.")
        return section
    dists = swept_distributions(trials)
    for name in varying:
        try:
            fig = optuna.visualization.plot_slice(study, params=[name])
        except Exception as exc:
            section.notes.append(f"Slice plot of {_e(name)} failed: {_e(_one_line(exc))}")
            continue
        fig.update_layout(
            height=340, title={"text": name, "x": 0.01}, margin={"t": 40}, showlegend=False
        )
        if _is_log(dists[name]):
            fig.update_xaxes(**log_axis(t.params[name] for t in complete if name in t.params))
        section.figures.append(fig)
    if single:
        section.notes.append(_single_note(single))
    if not varying:
        section.notes.append("No parameter took more than one value among COMPLETE trials.")
    return section


def _single_note(names: Sequence[str]) -> str:
    return (
        "Left out, a single value among COMPLETE trials: " + ", ".join(_e(n) for n in names) + "."
    )


# -- all trials ----------------------------------------------------------------------------


def trials_section(trials: Sequence[FrozenTrial]) -> Section:
    section = Section("trials", "All trials")
    if not trials:
        section.notes.append("No trials.")
        return section
    names = list(swept_distributions(trials))
    colors = outcome_colors(outcome_of(t) for t in trials)
    head = "".join(
        f"<th>{_e(h)}</th>" for h in ("#", "state", "outcome", "value", *names, "reason")
    )
    rows = []
    for t in trials[:MAX_TABLE_ROWS]:
        label = outcome_of(t)
        params = "".join(
            f"<td>{_e(_fmt_value(t.params[n])) if n in t.params else ''}</td>" for n in names
        )
        value = f"{t.value:.4f}" if t.value is not None else ""
        rows.append(
            f"<tr><td class='num'>{t.number}</td><td>{t.state.name}</td>"
            f"<td>{_swatch(colors[label])}{_e(label)}</td><td class='num'>{value}</td>"
            f"{params}<td class='reason'>{_e(str(t.user_attrs.get('reason', '')))}</td></tr>"
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


# -- the page --------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
header{background:#263238;color:#fff;padding:16px 28px}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:2px 0;color:#cfd8dc;font-size:13px}
nav{padding:8px 28px;background:#eceff1;font-size:14px;position:sticky;top:0;z-index:10}
nav a{margin-right:14px;color:#1565c0;text-decoration:none}
main{padding:0 28px 40px}
section{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:18px 0;
padding:12px 18px}
h2{font-size:18px;margin:6px 0 8px}
h3{font-size:15px;margin:16px 0 4px}
p.intro{color:#555;font-size:13px;margin:0 0 8px}
p.note{color:#6d4c41;font-size:13px;background:#fff8e1;padding:6px 10px;border-radius:4px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border-bottom:1px solid #eee;padding:3px 10px;text-align:left;vertical-align:top}
th{background:#f5f5f5}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.total td{border-top:2px solid #ccc}
tr.swept td{font-weight:bold}
td.reason{color:#555;max-width:520px}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px}
.plot{margin:6px 0}
"""


def render_page(
    study: optuna.Study,
    store: Store,
    trials: Sequence[FrozenTrial],
    sections: Sequence[Section],
) -> str:
    import plotly.io as pio

    metric = str(study.user_attrs.get("metric", "value"))
    direction = "maximised" if study.direction.name == "MAXIMIZE" else "minimised"
    space_file = study.user_attrs.get("space_file")
    first = True
    parts: list[str] = []
    for sec in sections:
        body = [f"<h2>{_e(sec.title)}</h2>"]
        if sec.intro:
            body.append(f"<p class='intro'>{sec.intro}</p>")
        if sec.html:
            body.append(sec.html)
        for i, fig in enumerate(sec.figures):
            fig.update_layout(template="plotly_white")
            div = pio.to_html(
                fig,
                full_html=False,
                include_plotlyjs=first,
                config=_PLOT_CONFIG,
                div_id=f"plot-{sec.anchor}-{i}",
                default_width="100%",
                default_height=f"{fig.layout.height or 450}px",
            )
            first = False
            body.append(f"<div class='plot'>{div}</div>")
        body.extend(f"<p class='note'>{n}</p>" for n in sec.notes)
        parts.append(f"<section id='{sec.anchor}'>{''.join(body)}</section>")
    nav = "".join(f"<a href='#{s.anchor}'>{_e(s.title)}</a>" for s in sections)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    space = f" · space {_e(str(space_file))}" if space_file else ""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>sweeps report: {_e(study.study_name)}</title>"
        "<link rel='icon' href='data:,'>"
        f"<style>{_CSS}</style></head><body>"
        f"<header><h1>Study {_e(study.study_name)}</h1>"
        f"<p>{len(trials)} trial(s) · metric {_e(metric)} ({direction}){space}</p>"
        f"<p>store {_e(store.describe())} · generated {now}</p></header>"
        f"<nav>{nav}</nav><main>{''.join(parts)}</main></body></html>\n"
    )


# -- MLflow ----------------------------------------------------------------------------------


def _client(store: Store) -> Any:
    try:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=store.tracking_uri)
    except Exception as exc:  # pragma: no cover - broken MLflow install
        log.warning("MLflow unavailable, the report uses Optuna's values only: %s", exc)
        return None


def parent_run_id(study: optuna.Study, trials: Sequence[FrozenTrial], client: Any) -> str | None:
    """The study's parent run: the earliest ``sweeps.role=parent`` run of its experiment,
    else the parent of any trial's run."""
    exp = client.get_experiment_by_name(study.study_name)
    if exp is not None:
        runs = client.search_runs(
            [exp.experiment_id],
            filter_string=f"tags.`{TAG_ROLE}` = 'parent'",
            max_results=50,
        )
        if runs:
            first = min(runs, key=lambda r: (r.info.start_time, r.info.run_id))
            return str(first.info.run_id)
    for t in trials:
        run_id = t.user_attrs.get("mlflow_run_id")
        if run_id:
            try:
                parent = client.get_run(str(run_id)).data.tags.get(TAG_PARENT)
            except Exception:
                continue
            if parent:
                return str(parent)
    return None


def log_to_mlflow(
    study: optuna.Study,
    trials: Sequence[FrozenTrial],
    curves: Sequence[Curve],
    client: Any,
    page: str,
) -> None:
    """The page on the parent run (``report.html``), the best trial's learning curve on its
    run (``learning_curve.html``). Failures are logged as warnings: the file is written."""
    import plotly.io as pio

    try:
        parent = parent_run_id(study, trials, client)
        if parent is None:
            log.warning("study %r has no MLflow parent run: report not logged", study.study_name)
        else:
            client.log_text(parent, page, REPORT_ARTIFACT)
        top = best_trial(study)
        best = next((c for c in curves if top and c.trial.number == top.number), None)
        if best is None and top is not None:
            metric = str(study.user_attrs.get("metric", "value"))
            best = _curve(top, "best", _curve_keys(metric), metric, client)
        run_id = best.trial.user_attrs.get("mlflow_run_id") if best and best.series else None
        if best is not None and run_id:
            fig = curves_figure(
                [best],
                title=f"study {study.study_name}: trial #{best.trial.number} (best)",
            )
            fig.update_layout(template="plotly_white")
            client.log_text(
                str(run_id),
                pio.to_html(fig, include_plotlyjs=True, full_html=True, config=_PLOT_CONFIG),
                CURVE_ARTIFACT,
            )
    except Exception as exc:
        log.warning("report not logged to MLflow: %s", _one_line(exc))


# -- small helpers ---------------------------------------------------------------------------


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_fmt_value(v) for v in value) + "]"
    return str(value)


def _hover(t: FrozenTrial) -> str:
    value = _trial_value(t)
    params = "<br>".join(f"{_e(k)}={_e(_fmt_value(v))}" for k, v in sorted(t.params.items()))
    reason = _e(str(t.user_attrs.get("reason", "")))
    if len(reason) > 160:
        reason = reason[:157] + "..."
    return (
        f"trial #{t.number} · {t.state.name} · <b>{_e(outcome_of(t))}</b>"
        + (f" · {value:.4f}" if value is not None else "")
        + (f"<br>{params}" if params else "")
        + (f"<br>{reason}" if reason else "")
    )


def _swatch(color: str) -> str:
    return f"<span class='swatch' style='background:{color}'></span>"


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
