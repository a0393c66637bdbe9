"""The report's sections: plotly figures (history, failure map, learning curves, Optuna's
importance / parallel / slice plots) and the HTML tables beside them.

:mod:`.style` holds what every section shares; :mod:`.tables`, :mod:`.outcomes`,
:mod:`.curves`, :mod:`.clock`, :mod:`.pareto` and :mod:`.optuna_plots` draw the sections
of one kind each; this module puts them in the page's order.
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial

from sweeps.analysis.report.data import Curve
from sweeps.analysis.report.figures.clock import clock_section
from sweeps.analysis.report.figures.curves import curves_figure, curves_section
from sweeps.analysis.report.figures.optuna_plots import (
    importance_section,
    parallel_section,
    slice_section,
)
from sweeps.analysis.report.figures.outcomes import failure_map_section, history_section
from sweeps.analysis.report.figures.pareto import pareto_section
from sweeps.analysis.report.figures.style import (
    OUTCOME_COLORS,
    PLOT_CONFIG,
    Section,
    esc,
    log_axis,
    one_line,
    outcome_colors,
)
from sweeps.analysis.report.figures.tables import summary_section, trials_section
from sweeps.store import is_multi
from sweeps.store.schema import STUDY_METRIC


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
        *([] if is_multi(study) else [clock_section(study, trials, metric)]),
        failure_map_section(trials),
        curves_section(curves, curve_notes, metric),
        importance_section(study, trials, metric),
        parallel_section(study, trials, metric),
        slice_section(study, trials, metric),
        trials_section(trials),
    ]


__all__ = [
    "OUTCOME_COLORS",
    "PLOT_CONFIG",
    "Section",
    "build_sections",
    "curves_figure",
    "esc",
    "log_axis",
    "one_line",
    "outcome_colors",
]
