"""``sweeps report``: one self-contained HTML page of plots for a study.

The page holds, in order: a summary (trials by state and outcome, the best config), the
optimisation history, a **failure map** (learning rate x init scale, or the two parameters
that best separate the outcomes, every finished trial coloured by its outcome), learning
curves of the best and of diverged trials (per-epoch metric histories from their MLflow
runs, or Optuna's intermediate values when a run has none), parameter importances,
parallel coordinates, a slice plot per parameter, and the table of all trials. Where a plot
cannot be drawn (too few trials, a parameter with one value) the page says why instead.

A trial whose outcome is a failure (:func:`~sweeps.store.is_failure`) is never the best
config, a "best" curve or on the Pareto front: where it scored better it is listed apart,
its row greyed with its label (the summary, the Pareto section, the table of trials).

:mod:`.data` reads the study and the runs, :mod:`.figures` draws the sections, :mod:`.page`
writes the page and publishes it to MLflow.
"""

from sweeps.analysis.report.data import (
    Curve,
    collect_curves,
    map_axes,
    outcome_of,
    separation,
    sort_best,
)
from sweeps.analysis.report.figures import (
    OUTCOME_COLORS,
    Section,
    build_sections,
    curves_figure,
    log_axis,
    outcome_colors,
)
from sweeps.analysis.report.page import publish, render_page, write_report

__all__ = [
    "OUTCOME_COLORS",
    "Curve",
    "Section",
    "build_sections",
    "collect_curves",
    "curves_figure",
    "log_axis",
    "map_axes",
    "outcome_colors",
    "outcome_of",
    "publish",
    "render_page",
    "separation",
    "sort_best",
    "write_report",
]
