"""``sweeps export`` / ``sweeps trials``: the best config (or a picked point of a Pareto
front) as a retrainable file, every trial as a table.

``--pick`` rules: a trial number (``--pick 12``); ``best:<objective>`` (the COMPLETE trial
best on that objective); ``knee`` (the Pareto-front trial closest to the ideal point once
each objective is scaled to [0, 1] over the front: the balanced trade-off). Without
``--pick``: the best trial, or with several objectives the front's best on the first one.

No rule picks a trial whose outcome is a failure (:func:`~sweeps.store.is_failure`): a
stuck net is no trade-off however fast it is. When every completed trial is one, the rules
refuse and say so; a trial number still exports any COMPLETE trial (the user asked).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from sweeps.errors import UserError
from sweeps.store import (
    all_failures_note,
    best_trial,
    candidate_trials,
    pareto_front,
    state_counts,
    study_objectives,
    trial_params,
    trials_frame,
)

PICK_RULES = "a trial number, best:<objective> or knee"


def write_trials(study: optuna.Study, out: Path) -> Path:
    """Write the trials table as ``.csv`` or ``.parquet`` (by suffix)."""
    frame = trials_frame(study)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise UserError(f"--out: must end in .csv or .parquet, got '{out}'")
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        frame.to_csv(out, index=False)
    else:
        frame.to_parquet(out, index=False)
    return out


def pick_trial(study: optuna.Study, rule: str | None) -> optuna.trial.FrozenTrial | None:
    """The trial ``rule`` picks (see the module docstring); ``None`` when nothing is done."""
    if rule is not None and rule.strip().isdigit():
        return _numbered(study, int(rule.strip()))
    picked = _by_rule(study, rule)
    if picked is None:
        _refuse_failures(study)
    return picked


def _numbered(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    """Trial ``number``, which must be COMPLETE (a failure too: the user named it)."""
    found = [t for t in study.get_trials(deepcopy=False) if t.number == number]
    if not found:
        raise UserError(f"--pick: study '{study.study_name}' has no trial {number}")
    if found[0].state != optuna.trial.TrialState.COMPLETE:
        raise UserError(f"--pick: trial {number} is {found[0].state.name}, not COMPLETE")
    return found[0]


def _by_rule(study: optuna.Study, rule: str | None) -> optuna.trial.FrozenTrial | None:
    """The non-failure trial a rule (``None``: the default) picks, if any."""
    if rule is None:
        return best_trial(study)
    rule = rule.strip()
    names = study_objectives(study)
    if rule.startswith("best:"):
        name = rule.removeprefix("best:")
        if name not in names:
            raise UserError(
                f"--pick: best:<objective> takes one of {', '.join(names)}, got {name!r}"
            )
        i = names.index(name)
        sign = -1.0 if study.directions[i] == optuna.study.StudyDirection.MAXIMIZE else 1.0
        pool = candidate_trials(study)
        return min(pool, key=lambda t: (sign * t.values[i], t.number), default=None)
    if rule == "knee":
        return knee(study)
    raise UserError(f"--pick: must be {PICK_RULES}, got {rule!r}")


def _refuse_failures(study: optuna.Study) -> None:
    """A rule found nothing because every completed trial is a failure: say so, and how
    to export one anyway (no completed trial at all is :func:`best_config`'s error)."""
    note = all_failures_note(study)
    if note is not None:
        raise UserError(
            f"study '{study.study_name}': {note}, so no trial is the best to export; "
            "--pick N exports trial N anyway"
        )


def knee(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The Pareto-front trial nearest the ideal point, objectives scaled to [0, 1] (the
    front of non-failure trials: :func:`~sweeps.store.pareto_front`)."""
    front = pareto_front(study) if len(study.directions) > 1 else []
    if not front:
        return best_trial(study)
    scaled: list[list[float]] = [[] for _ in front]
    for i, direction in enumerate(study.directions):
        vals = [t.values[i] for t in front]
        low, high = min(vals), max(vals)
        span = (high - low) or 1.0
        for row, v in zip(scaled, vals, strict=True):
            gap = high - v if direction == optuna.study.StudyDirection.MAXIMIZE else v - low
            row.append(gap / span)
    # ties (a two-point front is always one) go to the better first objective
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    ranked = [
        (round(sum(x * x for x in row), 12), sign * t.values[0], t.number, t)
        for row, t in zip(scaled, front, strict=True)
    ]
    return min(ranked, key=lambda r: r[:3])[3]


def best_config(
    study: optuna.Study, pick: str | None = None
) -> tuple[optuna.trial.FrozenTrial, dict[str, Any]]:
    best = pick_trial(study, pick)
    if best is None:
        counts = state_counts(study.get_trials(deepcopy=False))
        summary = ", ".join(f"{k.lower()}={v}" for k, v in counts.items() if v)
        raise UserError(
            f"study '{study.study_name}': no completed trial to export ({summary or 'no trials'})"
        )
    return best, trial_params(best)
