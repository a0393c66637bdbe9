"""What a study report is drawn from: the trials, their outcomes, and learning curves
read back from MLflow (or Optuna's intermediate values where a run has none)."""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from sweeps.store import Store, is_failure, metric_history
from sweeps.store.schema import ATTR_OUTCOME, ATTR_REASON, ATTR_RUN_ID, STUDY_METRIC

log = logging.getLogger(__name__)

N_BEST = 3


N_DIVERGED = 3


FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


# the failure map prefers these two axes when both are swept
MAP_AXES = ("learning_rate", "weight_init_scale")


_PARTNER = {
    "val_accuracy": "val_loss",
    "val_loss": "val_accuracy",
    "accuracy": "loss",
    "loss": "accuracy",
}


@dataclass
class Curve:
    """Per-epoch histories of one trial: metric name -> [(epoch, value)]."""

    trial: FrozenTrial
    role: str  # "best", "failure" (no trial that is not one completed) or "diverged"
    series: dict[str, list[tuple[int, float]]]
    source: str  # "mlflow" or "optuna"


def outcome_of(trial: FrozenTrial) -> str:
    """The trial's outcome label; trials without one (running, foreign) use their state."""
    label = trial.user_attrs.get(ATTR_OUTCOME)
    return str(label) if label else trial.state.name.lower()


def swept_distributions(trials: Sequence[FrozenTrial]) -> dict[str, BaseDistribution]:
    """Every parameter Optuna suggested in any trial (fixed values are not suggested)."""
    dists: dict[str, BaseDistribution] = {}
    for t in trials:
        for name, dist in t.distributions.items():
            dists.setdefault(name, dist)
    return dict(sorted(dists.items()))


def is_numeric(dist: BaseDistribution) -> bool:
    return isinstance(dist, FloatDistribution | IntDistribution)


def is_log(dist: BaseDistribution) -> bool:
    return bool(getattr(dist, "log", False))


def distinct_values(trials: Sequence[FrozenTrial], name: str) -> set[str]:
    return {repr(t.params[name]) for t in trials if name in t.params}


def sort_best(study: optuna.Study, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """COMPLETE trials with a finite value, best first."""
    done = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and t.values and math.isfinite(t.values[0])
    ]
    reverse = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    return sorted(done, key=lambda t: (float(t.values[0]), -t.number), reverse=reverse)


def trial_value(t: FrozenTrial) -> float | None:
    """The (first) objective of a COMPLETE trial, else the last value it reported."""
    if t.state == TrialState.COMPLETE and t.values:
        return float(t.values[0]) if math.isfinite(t.values[0]) else None
    finite = [(s, v) for s, v in t.intermediate_values.items() if math.isfinite(v)]
    return float(max(finite)[1]) if finite else None


def map_axes(trials: Sequence[FrozenTrial]) -> list[str]:
    """The failure map's axes: learning rate x init scale when both are swept, else the
    (up to) two swept parameters that best separate the outcomes, numeric ones first."""
    dists = swept_distributions(trials)
    finished = [t for t in trials if t.state in FINISHED]
    varying = [n for n in dists if len(distinct_values(finished, n)) > 1] or list(dists)
    preferred = [n for n in MAP_AXES if n in varying]

    def score(name: str) -> tuple[int, float, str]:
        numeric = is_numeric(dists[name])
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
            if is_log(dist):
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


def collect_curves(
    study: optuna.Study, trials: Sequence[FrozenTrial], store: Store | None
) -> tuple[list[Curve], list[str]]:
    """Histories of the best trials and of diverged ones that finished at least one epoch."""
    notes: list[str] = []
    metric = str(study.user_attrs.get(STUDY_METRIC, "value"))
    keys = _curve_keys(metric)
    ranked = sort_best(study, trials)
    # the best trials that trained; a stuck run with a high value is not one of them:
    # with none that trained, the top failures are drawn greyed, as failures
    best = [t for t in ranked if not is_failure(t)]
    role = "best" if best else "failure"
    curves = [_curve(t, role, keys, metric, store) for t in (best or ranked)[:N_BEST]]
    if ranked and not best:
        notes.append(
            f"Every COMPLETE trial is a failure: the {min(N_BEST, len(ranked))} with the best "
            f"{html.escape(metric)} are drawn grey, as failures, not as the best."
        )
    diverged = [t for t in trials if outcome_of(t) in ("diverged", "exploded")]
    with_history: list[Curve] = []
    without: list[FrozenTrial] = []
    for t in diverged:
        curve = _curve(t, "diverged", keys, metric, store)
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
            f"#{t.number}: {html.escape(str(t.user_attrs.get(ATTR_REASON, '')))}"
            for t in without[:8]
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


def curve_of(study: optuna.Study, trial: FrozenTrial, store: Store | None, role: str) -> Curve:
    """One trial's learning curve (MLflow history, else Optuna's intermediate values)."""
    metric = str(study.user_attrs.get(STUDY_METRIC, "value"))
    return _curve(trial, role, _curve_keys(metric), metric, store)


def _history(store: Store, run_id: str, key: str) -> list[tuple[int, float]]:
    try:
        return metric_history(store, run_id, key)
    except Exception as exc:  # deleted run, unreachable server
        log.debug("no history for %s/%s: %s", run_id, key, exc)
        return []


def _curve(
    t: FrozenTrial, role: str, keys: Sequence[str], metric: str, store: Store | None
) -> Curve:
    series: dict[str, list[tuple[int, float]]] = {}
    run_id = t.user_attrs.get(ATTR_RUN_ID)
    if store is not None and run_id:
        for key in keys:
            history = _history(store, str(run_id), key)
            if not history and key.startswith("val_"):
                # no validation split: the training metric stands in
                history = _history(store, str(run_id), key[4:])
            points = [(step, value) for step, value in history if math.isfinite(value)]
            if points:
                series[key] = points
    if series:
        return Curve(t, role, series, "mlflow")
    values = sorted(
        (int(s), float(v)) for s, v in t.intermediate_values.items() if math.isfinite(v)
    )
    key = metric if metric in _PARTNER else keys[0]
    return Curve(t, role, {key: values} if values else {}, "optuna")


def complete_trials(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    return [t for t in trials if t.state == TrialState.COMPLETE and t.values]


def varying_params(trials: Sequence[FrozenTrial]) -> tuple[list[str], list[str]]:
    """Swept params split into those that took more than one value among COMPLETE trials,
    and those that took one value only."""
    complete = complete_trials(trials)
    varying: list[str] = []
    single: list[str] = []
    for name in swept_distributions(trials):
        (varying if len(distinct_values(complete, name)) > 1 else single).append(name)
    return varying, single
