"""Optuna access: the storage, studies (create, resume, load) and what is read back
from their trials (counts, the best trial, the Pareto front, the trials table).

A trial whose outcome is a failure (:func:`is_failure`) is never the best trial nor on
the front: a net at chance or one that diverged is no result, whatever its value."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from sweeps.errors import UserError
from sweeps.store._copies import copy_fitting_trials, is_copy
from sweeps.store._locations import Store
from sweeps.store._pareto import cost, first_front
from sweeps.store._pruners import PeerPercentilePruner
from sweeps.store.schema import (
    ATTR_COPIED_FROM,
    ATTR_EPOCHS_RUN,
    ATTR_OUTCOME,
    ATTR_PARAMS,
    ATTR_REASON,
    ATTR_RUN_ID,
    ATTR_TEST_ACCURACY,
    ATTR_WALL_TIME,
    STUDY_METRIC,
    STUDY_METRICS,
    STUDY_REFINED_FROM,
    STUDY_SPACE,
    STUDY_SPACE_FILE,
)
from trainer.outcome import LABELS

try:  # set_user_attrs and report_values write the journal's own log entries
    from optuna.storages.journal._storage import JournalOperation

    _OPS = {
        "user_attr": int(JournalOperation.SET_TRIAL_USER_ATTR),
        "intermediate_value": int(JournalOperation.SET_TRIAL_INTERMEDIATE_VALUE),
    }
except (ImportError, AttributeError):  # pragma: no cover - an Optuna that moved it
    _OPS = {}

if TYPE_CHECKING:
    import pandas as pd

    from sweeps.space import SearchSpace, StudySettings


def optuna_storage(store: Store) -> Any:
    """The store's Optuna storage, opened once per :class:`Store` (``store.optuna``)."""
    return store.optuna


def make_sampler(
    settings: StudySettings, *, conditional: bool = False
) -> optuna.samplers.BaseSampler:
    """TPE by default; ``constant_liar`` keeps parallel workers from piling on one point.

    ``conditional``: the space samples define-by-run parameters (a depth x width space),
    so multivariate TPE groups parameters that occur together (``group=True``)."""
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.seed)
    if settings.sampler == "qmc":
        return optuna.samplers.QMCSampler(
            seed=settings.seed, warn_independent_sampling=False, warn_asynchronous_seeding=False
        )
    if settings.sampler == "cmaes":  # the space's categorical params are sampled at random
        return optuna.samplers.CmaEsSampler(seed=settings.seed, warn_independent_sampling=False)
    if settings.sampler == "gp":
        return optuna.samplers.GPSampler(seed=settings.seed)
    if settings.sampler == "nsgaii":
        return optuna.samplers.NSGAIISampler(seed=settings.seed)
    with warnings.catch_warnings():  # group (and multivariate) are "experimental"
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(
            seed=settings.seed,
            n_startup_trials=min(10, max(settings.trials // 3, 1)),
            constant_liar=True,
            multivariate=True,
            group=conditional,
        )


def make_pruner(settings: StudySettings) -> optuna.pruners.BasePruner:
    """The study's Optuna pruner. ``median`` (also ``auto``'s, which the single engine
    uses) and ``percentile`` are Optuna's, or with ``pruner_peers: running`` the rule that
    also compares with running and pruned trials (:mod:`sweeps.store._pruners`). ``asha``
    is not an Optuna pruner: the trial session judges the rungs (sweeps.runner.rungs)."""
    warmup = settings.pruner_warmup_epochs
    startup = settings.pruner_startup_trials
    if settings.pruner in ("none", "asha") or settings.multi:
        return optuna.pruners.NopPruner()
    rungs = {"min_resource": settings.min_epochs, "reduction_factor": settings.reduction_factor}
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(**rungs)
    if settings.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(**rungs)
    percentile = 25.0 if settings.pruner == "percentile" else 50.0
    if settings.pruner_peers == "running":
        return PeerPercentilePruner(percentile, n_startup_trials=startup, n_warmup_steps=warmup)
    if settings.pruner == "percentile":
        return optuna.pruners.PercentilePruner(
            percentile, n_startup_trials=startup, n_warmup_steps=warmup
        )
    return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup)


def open_study(space: SearchSpace, store: Store) -> optuna.Study:
    """Create the study, or resume it when the stored search space is the same."""
    settings = space.settings
    storage = store.optuna
    sampler = make_sampler(settings, conditional=space.layers is not None)
    pruner = make_pruner(settings)
    fingerprint = space.fingerprint()
    try:
        study = optuna.load_study(
            study_name=settings.name, storage=storage, sampler=sampler, pruner=pruner
        )
    except KeyError:
        try:
            study = optuna.create_study(
                study_name=settings.name,
                storage=storage,
                sampler=sampler,
                pruner=pruner,
                directions=list(settings.objective_directions),  # type: ignore[arg-type]
                load_if_exists=True,
            )
        except Exception as exc:
            raise UserError(
                f"study '{settings.name}': cannot create it in {store.describe()} ({exc})"
            ) from None
        if STUDY_SPACE not in study.user_attrs:
            study.set_user_attr(STUDY_SPACE, fingerprint)
            study.set_user_attr(STUDY_SPACE_FILE, space.source)
            study.set_user_attr(STUDY_METRIC, settings.metric)
            if settings.multi:
                study.set_user_attr(STUDY_METRICS, list(settings.objectives))
            if settings.refined_from:
                study.set_user_attr(STUDY_REFINED_FROM, settings.refined_from)
                copy_fitting_trials(study, space, storage)
        return study
    stored = study.user_attrs.get(STUDY_SPACE)
    if stored is not None and stored != fingerprint:
        raise UserError(
            f"study '{settings.name}': exists with a different search space "
            f"(from {study.user_attrs.get(STUDY_SPACE_FILE, '?')!r}); "
            "use another --study name or the original file"
        )
    return study


def load_existing(name: str, store: Store) -> optuna.Study:
    """Load a study by name for reading (status, export, trials) or fail in one line."""
    storage = store.optuna
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        known = ", ".join(sorted(names)) if names else "none"
        raise UserError(
            f"study '{name}': not found in {store.describe()} (known: {known})"
        ) from None


def state_counts(trials: list[optuna.trial.FrozenTrial]) -> dict[str, int]:
    """Trials per Optuna state, every state present (zeros included)."""
    counts = Counter(t.state.name for t in trials)
    return {s.name: counts.get(s.name, 0) for s in optuna.trial.TrialState}


def outcome_counts(trials: list[optuna.trial.FrozenTrial]) -> dict[str, int]:
    return dict(Counter(str(t.user_attrs.get(ATTR_OUTCOME, "-")) for t in trials))


def study_objectives(study: optuna.Study) -> list[str]:
    """The study's objective names, in order (``["value"]`` for a study made elsewhere)."""
    names = study.user_attrs.get(STUDY_METRICS)
    if isinstance(names, list) and len(names) == len(study.directions):
        return [str(n) for n in names]
    if len(study.directions) > 1:
        return [f"value_{i}" for i in range(len(study.directions))]
    return [str(study.user_attrs.get(STUDY_METRIC, "value"))]


def is_multi(study: optuna.Study) -> bool:
    return len(study.directions) > 1


def primary_value(trial: optuna.trial.FrozenTrial) -> float | None:
    """The first objective's value (the only one in a single-objective study)."""
    return float(trial.values[0]) if trial.values else None


FAILURE_LABELS: tuple[str, ...] = tuple(label for label in LABELS if label != "ok")
"""The trainer's outcome labels that say a trained net is no result: every one but
``ok`` (diverged, exploded, symmetric, stuck, slow, dead_units, saturated)."""


def is_failure_label(label: object) -> bool:
    """Whether an outcome label is one of :data:`FAILURE_LABELS` (``None``: no label, so
    no failure). :func:`is_failure` on a label, for code that holds the label only."""
    return label in FAILURE_LABELS


def is_failure(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether the trial's primary outcome (:data:`ATTR_OUTCOME`) is a failure label.

    The one rule every "best" reads (the best trial, the Pareto front, the knee, what
    ``export`` picks, the saved models, the report): a stuck net at chance is often the
    fastest or the smallest, and would sit on a front it does not belong to. A trial
    without an outcome (made elsewhere) is not a failure."""
    return is_failure_label(trial.user_attrs.get(ATTR_OUTCOME))


def failure_counts(trials: Sequence[optuna.trial.FrozenTrial]) -> dict[str, int]:
    """Failures per label among ``trials``, in :data:`FAILURE_LABELS` order."""
    counts = Counter(str(t.user_attrs.get(ATTR_OUTCOME)) for t in trials if is_failure(t))
    return {label: counts[label] for label in FAILURE_LABELS if counts[label]}


def completed_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The COMPLETE trials that have values, failures included."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return [t for t in complete if t.values]


def candidate_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials that may be the best or on the front: COMPLETE, with values, and not a
    failure (:func:`is_failure`)."""
    return [t for t in completed_trials(study) if not is_failure(t)]


def all_failures_note(study: optuna.Study) -> str | None:
    """Why a study that has COMPLETE trials has no best: ``every completed trial is a
    failure (stuck=2, slow=1)``, in the same words in every view; ``None`` when some
    completed trial is not a failure, or none completed."""
    complete = completed_trials(study)
    if not complete or not all(is_failure(t) for t in complete):
        return None
    counts = ", ".join(f"{label}={n}" for label, n in failure_counts(complete).items())
    return f"every completed trial is a failure ({counts})"


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The best COMPLETE trial that is not a failure, or ``None`` when there is none yet
    (ties: the lower trial number).

    With several objectives: the Pareto-front trial best on the first objective."""
    pool = pareto_front(study) if is_multi(study) else candidate_trials(study)
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return min(pool, key=lambda t: (sign * t.values[0], t.number), default=None)


def pareto_front(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The COMPLETE non-failure trials no other such trial beats on every objective, by
    trial number. Optuna's ``study.best_trials`` counts failures as points, so a stuck
    net that is merely the fastest would be on it."""
    return nondominated(candidate_trials(study), study.directions)


def nondominated(
    trials: Sequence[optuna.trial.FrozenTrial], directions: Sequence[optuna.study.StudyDirection]
) -> list[optuna.trial.FrozenTrial]:
    """The trials of ``trials`` (all with values) that no other of them beats on every
    objective, by trial number. :func:`pareto_front` is this over the candidates; the
    report also asks it over every completed trial, to show the failures it left off."""
    names = [d.name.lower() for d in directions]
    by_number = {t.number: t for t in trials}
    front = first_front({t.number: cost(t.values, names) for t in trials})
    return [by_number[n] for n in front]


def summary_best(
    storage: Any, summary: optuna.study.StudySummary
) -> optuna.trial.FrozenTrial | None:
    """A study summary's best trial by :func:`best_trial`'s rule. Optuna's own
    (``summary.best_trial``, one objective only) may be a failure: only then is the
    study's trials read."""
    best = summary.best_trial
    if best is None or not is_failure(best):
        return best
    return best_trial(optuna.load_study(study_name=summary.study_name, storage=storage))


def trial_params(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The full, retrainable parameter dict stored on a trial."""
    params = trial.user_attrs.get(ATTR_PARAMS)
    if not isinstance(params, dict):
        raise UserError(f"trial {trial.number}: has no stored parameter dict")
    return dict(params)


_FRAME_ATTRS = (
    ATTR_OUTCOME,
    ATTR_COPIED_FROM,
    ATTR_REASON,
    ATTR_RUN_ID,
    ATTR_TEST_ACCURACY,
    ATTR_EPOCHS_RUN,
    ATTR_WALL_TIME,
)


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, value, outcome, reason, params, MLflow run id."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    names = study_objectives(study) if is_multi(study) else []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {
            "number": t.number,
            "state": t.state.name,
            "value": primary_value(t),
        }
        for i, name in enumerate(names):  # one column per objective
            row[f"value_{name}"] = t.values[i] if t.values else None
        for key in _FRAME_ATTRS:
            row[key] = t.user_attrs.get(key)
        row["datetime_start"] = t.datetime_start
        row["duration_s"] = t.duration.total_seconds() if t.duration else None
        for name, value in sorted(t.params.items()):
            row[f"param_{name}"] = value
        rows.append(row)
    columns = ["number", "state", "value", *_FRAME_ATTRS, "datetime_start", "duration_s"]
    frame = pd.DataFrame(rows)
    return frame if rows else pd.DataFrame(columns=columns)


def accounted_trials(study: optuna.Study) -> int:
    """Trials that count towards the study's target: finished, running or queued, run
    here (not copied in from the study a refined space came from).

    A trial failed as stale (dead worker) and re-queued by the retry callback is counted
    once, through its retry, not twice (nor three times when the retry died too).
    """
    trials = study.get_trials(deepcopy=False)
    retried = {
        n for t in trials for n in optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history(t)
    }
    return sum(
        1
        for t in trials
        if not (t.state == TrialState.FAIL and t.number in retried) and not is_copy(t)
    )


def trial_id(storage: Any, study: optuna.Study, number: int) -> int:
    """The storage's id of trial ``number`` of ``study`` (heartbeats are kept per id)."""
    study_id = storage.get_study_id_from_name(study.study_name)
    return int(storage.get_trial_id_from_study_id_trial_number(study_id, number))


def set_user_attrs(trial: optuna.Trial, attrs: Mapping[str, Any]) -> None:
    """``trial.set_user_attr`` for each of ``attrs``, in one journal write where it can.

    A journal store syncs its file (``fsync``) once per write, ~1.5 ms, and a trial's end
    sets a dozen attributes: one write of all of them is a dozen times cheaper. Optuna's
    journal has no call for that, so this appends the very log entries Optuna's
    ``set_trial_user_attr`` writes, one attribute each, in one ``append_logs``; replaying
    them checks each as Optuna does. Other storages (or an Optuna whose journal internals
    moved) get one ``set_user_attr`` per attribute.
    """
    set_many_user_attrs([(trial, attrs)])


def set_many_user_attrs(items: Sequence[tuple[optuna.Trial, Mapping[str, Any]]]) -> None:
    """:func:`set_user_attrs` of several trials of one study, in one journal write where
    it can (the members of a population that end, or start reporting, together)."""
    items = [(trial, attrs) for trial, attrs in items if attrs]
    storage: Any = items[0][0].storage if items else None
    if sum(len(attrs) for _, attrs in items) < 2 or not _journal_internals(storage):
        for trial, attrs in items:
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
        return
    kind = _OPS["user_attr"]
    _append(
        storage,
        [(kind, trial, {"user_attr": {k: v}}) for trial, attrs in items for k, v in attrs.items()],
    )
    for trial, attrs in items:
        trial._cached_frozen_trial.user_attrs.update(attrs)


def report_values(reports: Sequence[tuple[optuna.Trial, float, int]]) -> None:
    """``trial.report(value, step)`` for each, in one journal write where it can (the
    members of a population report their epoch together; see :func:`set_user_attrs`).
    The trials are of one study. A step already reported is ignored, as Optuna ignores it
    (on the journal path without Optuna's warning)."""
    storage: Any = reports[0][0].storage if reports else None
    if len(reports) < 2 or not _journal_internals(storage):
        for trial, value, step in reports:
            trial.report(value, step)
        return
    fresh = [
        (trial, float(value), int(step))
        for trial, value, step in reports
        if int(step) not in trial._cached_frozen_trial.intermediate_values
    ]
    if not fresh:
        return
    kind = _OPS["intermediate_value"]
    _append(storage, [(kind, t, {"step": s, "intermediate_value": v}) for t, v, s in fresh])
    for trial, value, step in fresh:
        trial._cached_frozen_trial.intermediate_values[step] = value


def _append(storage: Any, entries: list[tuple[int, optuna.Trial, dict[str, Any]]]) -> None:
    """Write ``(op code, trial, fields)`` entries as one journal append, then replay."""
    worker = storage._replay_result.worker_id
    logs = [
        {"op_code": op, "worker_id": worker, "trial_id": trial._trial_id, **fields}
        for op, trial, fields in entries
    ]
    with storage._thread_lock:
        storage._backend.append_logs(logs)
        _sync_all(storage)


def _journal_internals(storage: Any) -> bool:
    """Whether ``storage`` is a journal with the internals :func:`_append` uses."""
    return (
        bool(_OPS)
        and isinstance(storage, optuna.storages.JournalStorage)
        and hasattr(getattr(storage, "_backend", None), "append_logs")
        and hasattr(getattr(storage, "_replay_result", None), "worker_id")
        and hasattr(storage._replay_result, "log_number_read")
        and hasattr(storage, "_sync_with_backend")
        and hasattr(storage, "_thread_lock")
    )


def _sync_all(storage: Any) -> None:
    """Replay the journal to its end. An entry of ours that the replay refuses (the trial
    was finished meanwhile, say by a reaper) raises once it is consumed: keep reading, so
    none of the others is left to raise in some later, unrelated call, then raise."""
    error: Exception | None = None
    while True:
        read = storage._replay_result.log_number_read
        try:
            storage._sync_with_backend()
            break
        except Exception as exc:
            error = error or exc
            if storage._replay_result.log_number_read == read:  # nothing consumed
                break
    if error is not None:
        raise error


def frozen_trial(storage: Any, study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    """Trial ``number`` as stored now (one read, not the whole study)."""
    return storage.get_trial(trial_id(storage, study, number))
