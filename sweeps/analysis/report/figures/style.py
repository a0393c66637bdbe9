"""What every section shares: the :class:`Section` itself, a colour per outcome and a
symbol per trial state, HTML escaping, value and hover text, and readable log axes."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.trial import FrozenTrial

from sweeps.analysis.report.data import outcome_of, trial_value
from sweeps.store.schema import ATTR_REASON

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


FAILURE_COLOR = "#bdbdbd"
"""Where a failure (:func:`~sweeps.store.is_failure`) is set apart from the candidates for
the best (the Pareto plot), it is drawn in this grey; tables grey its row."""


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


STATE_SYMBOL = {"COMPLETE": "circle", "PRUNED": "diamond", "FAIL": "x"}


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


def axis_value(value: Any) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def objective_text(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:.6g}"


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def fmt_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(fmt_value(v) for v in value) + "]"
    return str(value)


def hover_text(t: FrozenTrial) -> str:
    value = trial_value(t)
    params = "<br>".join(f"{esc(k)}={esc(fmt_value(v))}" for k, v in sorted(t.params.items()))
    reason = esc(str(t.user_attrs.get(ATTR_REASON, "")))
    if len(reason) > 160:
        reason = reason[:157] + "..."
    return (
        f"trial #{t.number} · {t.state.name} · <b>{esc(outcome_of(t))}</b>"
        + (f" · {value:.4f}" if value is not None else "")
        + (f"<br>{params}" if params else "")
        + (f"<br>{reason}" if reason else "")
    )


def swatch(color: str) -> str:
    return f"<span class='swatch' style='background:{color}'></span>"


def one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:300]


def outcome_traces(
    points: Sequence[tuple[FrozenTrial, float, float]], *, size: int, hover: str = ""
) -> list[Any]:
    """One marker trace per outcome over ``(trial, x, y)`` points, in the outcome's colour,
    each trial's symbol by its state, with its hover text (``hover`` before it)."""
    import plotly.graph_objects as go

    traces = []
    for label, color in outcome_colors(outcome_of(t) for t, _, _ in points).items():
        group = [(t, x, y) for t, x, y in points if outcome_of(t) == label]
        traces.append(
            go.Scatter(
                x=[x for _, x, _ in group],
                y=[y for _, _, y in group],
                mode="markers",
                name=label,
                marker={
                    "color": color,
                    "size": size,
                    "symbol": [STATE_SYMBOL.get(t.state.name, "circle") for t, _, _ in group],
                    "line": {"width": 1, "color": "white"},
                },
                text=[hover_text(t) for t, _, _ in group],
                hovertemplate=hover + "%{text}<extra></extra>",
            )
        )
    return traces
