"""The report as one self-contained HTML page (plotly.js inline), written to a file and
published to MLflow: the page on the study's parent run, the best trial's learning curve
on its own run."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial

from sweeps.analysis.report.data import Curve, collect_curves, curve_of
from sweeps.analysis.report.figures import (
    PLOT_CONFIG,
    Section,
    build_sections,
    curves_figure,
    esc,
    one_line,
)
from sweeps.errors import UserError
from sweeps.store import Store, best_trial, find_parent_run, log_text, study_objectives
from sweeps.store.schema import (
    ARTIFACT_CURVE,
    ARTIFACT_REPORT,
    ATTR_RUN_ID,
    STUDY_SPACE_FILE,
)

log = logging.getLogger(__name__)


def write_report(study: optuna.Study, store: Store, out: Path) -> Path:
    """Write the study's report to ``out`` and publish it to the study's MLflow runs."""
    trials = study.get_trials(deepcopy=False)
    tracking: Store | None = store
    try:
        store.mlflow  # noqa: B018 - reachable? else the report uses Optuna's values only
    except UserError as exc:
        log.warning("MLflow unavailable, the report uses Optuna's values only: %s", exc)
        tracking = None
    curves, curve_notes = collect_curves(study, trials, tracking)
    sections = build_sections(study, trials, curves, curve_notes)
    page = render_page(study, store, trials, sections)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    if tracking is not None:
        publish(study, tracking, curves, page)
    return out


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
tr.failure td{color:#9e9e9e}
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

    objectives = ", ".join(
        f"{esc(n)} ({'maximised' if d.name == 'MAXIMIZE' else 'minimised'})"
        for n, d in zip(study_objectives(study), study.directions, strict=True)
    )
    space_file = study.user_attrs.get(STUDY_SPACE_FILE)
    first = True
    parts: list[str] = []
    for sec in sections:
        body = [f"<h2>{esc(sec.title)}</h2>"]
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
                config=PLOT_CONFIG,
                div_id=f"plot-{sec.anchor}-{i}",
                default_width="100%",
                default_height=f"{fig.layout.height or 450}px",
            )
            first = False
            body.append(f"<div class='plot'>{div}</div>")
        body.extend(f"<p class='note'>{n}</p>" for n in sec.notes)
        parts.append(f"<section id='{sec.anchor}'>{''.join(body)}</section>")
    nav = "".join(f"<a href='#{s.anchor}'>{esc(s.title)}</a>" for s in sections)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    space = f" · space {esc(str(space_file))}" if space_file else ""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>sweeps report: {esc(study.study_name)}</title>"
        "<link rel='icon' href='data:,'>"
        f"<style>{_CSS}</style></head><body>"
        f"<header><h1>Study {esc(study.study_name)}</h1>"
        f"<p>{len(trials)} trial(s) · metric {objectives}{space}</p>"
        f"<p>store {esc(store.describe())} · generated {now}</p></header>"
        f"<nav>{nav}</nav><main>{''.join(parts)}</main></body></html>\n"
    )


def publish(study: optuna.Study, store: Store, curves: Sequence[Curve], page: str) -> None:
    """The page on the parent run (``report.html``), the best trial's learning curve on its
    run (``learning_curve.html``). Failures are logged as warnings: the file is written."""
    import plotly.io as pio

    try:
        trials = study.get_trials(deepcopy=False)
        run_ids = [str(t.user_attrs[ATTR_RUN_ID]) for t in trials if t.user_attrs.get(ATTR_RUN_ID)]
        parent = find_parent_run(store, study.study_name, run_ids)
        if parent is None:
            log.warning("study %r has no MLflow parent run: report not logged", study.study_name)
        else:
            log_text(store, parent, page, ARTIFACT_REPORT)
        top = best_trial(study)
        best = next((c for c in curves if top and c.trial.number == top.number), None)
        if best is None and top is not None:
            best = curve_of(study, top, store, "best")
        run_id = best.trial.user_attrs.get(ATTR_RUN_ID) if best and best.series else None
        if best is not None and run_id:
            fig = curves_figure(
                [best],
                title=f"study {study.study_name}: trial #{best.trial.number} (best)",
            )
            fig.update_layout(template="plotly_white")
            log_text(
                store,
                str(run_id),
                pio.to_html(fig, include_plotlyjs=True, full_html=True, config=PLOT_CONFIG),
                ARTIFACT_CURVE,
            )
    except Exception as exc:
        log.warning("report not logged to MLflow: %s", one_line(exc))
