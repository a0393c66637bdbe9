"""The HTML tables: the summary (trials by outcome and state, the best config, and the
failures that scored better than it, greyed) and the table of all trials (failures greyed)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeps.analysis.report.data import outcome_of, swept_distributions
from sweeps.analysis.report.figures.style import (
    Section,
    esc,
    fmt_value,
    objective_text,
    outcome_colors,
    swatch,
)
from sweeps.store import (
    all_failures_note,
    best_trial,
    completed_trials,
    is_failure,
    primary_value,
    study_objectives,
)
from sweeps.store.schema import ATTR_PARAMS, ATTR_REASON, ATTR_RUN_ID, ATTR_TEST_ACCURACY

MAX_TABLE_ROWS = 1000

MAX_FAILURE_ROWS = 10
"""Failures listed beside the best config: the ones that scored better than it, best first."""


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
            f"<tr><td>{swatch(colors[label])}{esc(label)}</td>{cells}"
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
    section.html = table + best_config_html(study, trials) + failures_above_html(study)
    return section


def best_config_html(study: optuna.Study, trials: Sequence[FrozenTrial]) -> str:
    best = best_trial(study)
    if best is None:
        why = all_failures_note(study) or "no completed trial yet"
        text = esc(why[0].upper() + why[1:])
        return f"<p class='note' id='best-config'>{text}: no best config.</p>"
    params = best.user_attrs.get(ATTR_PARAMS)
    if not isinstance(params, dict):
        params = dict(best.params)
    swept = swept_distributions(trials)
    rows = "".join(
        f"<tr{' class=swept' if name in swept else ''}><td>{esc(name)}</td>"
        f"<td>{esc(fmt_value(value))}</td></tr>"
        for name, value in params.items()
    )
    test_acc = best.user_attrs.get(ATTR_TEST_ACCURACY)
    facts = [
        ", ".join(
            f"{esc(n)} = <b>{objective_text(v)}</b>"
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


def failures_above_html(study: optuna.Study) -> str:
    """The COMPLETE failures whose (first) value beats the best config's, best first,
    greyed with their label: a reader who sees a higher number in the history learns
    why it is not the best (every one of them when there is no best)."""
    best = best_trial(study)
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    bar = primary_value(best) if best is not None else None
    above = sorted(
        (
            t
            for t in completed_trials(study)
            if is_failure(t) and (bar is None or sign * float(t.values[0]) < sign * bar)
        ),
        key=lambda t: (sign * float(t.values[0]), t.number),
    )
    if not above:
        return ""
    names = study_objectives(study)
    head = "".join(f"<th>{esc(h)}</th>" for h in ("#", "outcome", *names, "reason"))
    rows = "".join(
        f"<tr class='failure'><td class='num'>{t.number}</td><td>{esc(outcome_of(t))}</td>"
        + "".join(f"<td class='num'>{objective_text(v)}</td>" for v in t.values)
        + f"<td class='reason'>{esc(str(t.user_attrs.get(ATTR_REASON, '')))}</td></tr>"
        for t in above[:MAX_FAILURE_ROWS]
    )
    more = len(above) - MAX_FAILURE_ROWS
    return (
        f"<h3 id='failures-above'>Failures, never the best ({len(above)})</h3>"
        "<p class='note'>These COMPLETE trials scored "
        + ("better than the best config" if best is not None else "a value")
        + " but their outcome is a failure: no rule picks them; "
        "<code>sweeps export STUDY --pick N</code> exports one anyway.</p>"
        f"<table class='failures'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        + (f"<p class='note'>And {more} more.</p>" if more > 0 else "")
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
            f"<td>{esc(fmt_value(t.params[n])) if n in t.params else ''}</td>" for n in names
        )
        value = " / ".join(f"{v:.4g}" for v in t.values) if t.values else ""
        grey = " class='failure'" if is_failure(t) else ""
        rows.append(
            f"<tr{grey}><td class='num'>{t.number}</td><td>{t.state.name}</td>"
            f"<td>{swatch(colors[label])}{esc(label)}</td><td class='num'>{value}</td>"
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
