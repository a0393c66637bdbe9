"""Open (create or resume) an Optuna study for a search space, and read one back."""

from __future__ import annotations

from collections import Counter
from typing import Any

import optuna

from sweeps.errors import UserError
from sweeps.space import SearchSpace, StudySettings
from sweeps.store import Store, optuna_storage

ATTR_SPACE = "search_space"
ATTR_SPACE_FILE = "space_file"
ATTR_METRIC = "metric"


def make_sampler(settings: StudySettings) -> optuna.samplers.BaseSampler:
    """TPE by default; ``constant_liar`` keeps parallel workers from piling on one point."""
    if settings.sampler == "random":
        return optuna.samplers.RandomSampler(seed=settings.seed)
    if settings.sampler == "qmc":
        return optuna.samplers.QMCSampler(
            seed=settings.seed, warn_independent_sampling=False, warn_asynchronous_seeding=False
        )
    return optuna.samplers.TPESampler(
        seed=settings.seed,
        n_startup_trials=min(10, max(settings.trials // 3, 1)),
        constant_liar=True,
        multivariate=True,
    )


def make_pruner(settings: StudySettings) -> optuna.pruners.BasePruner:
    warmup = settings.pruner_warmup_epochs
    startup = settings.pruner_startup_trials
    if settings.pruner == "none":
        return optuna.pruners.NopPruner()
    if settings.pruner == "percentile":
        return optuna.pruners.PercentilePruner(
            25.0, n_startup_trials=startup, n_warmup_steps=warmup
        )
    if settings.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1)
    if settings.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1)
    return optuna.pruners.MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup)


def open_study(space: SearchSpace, store: Store) -> optuna.Study:
    """Create the study, or resume it when the stored search space is the same."""
    settings = space.settings
    storage = optuna_storage(store)
    sampler, pruner = make_sampler(settings), make_pruner(settings)
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
                direction=settings.direction,  # type: ignore[arg-type]
                load_if_exists=True,
            )
        except Exception as exc:
            raise UserError(
                f"study '{settings.name}': cannot create it in {store.describe()} ({exc})"
            ) from None
        if ATTR_SPACE not in study.user_attrs:
            study.set_user_attr(ATTR_SPACE, fingerprint)
            study.set_user_attr(ATTR_SPACE_FILE, space.source)
            study.set_user_attr(ATTR_METRIC, settings.metric)
        return study
    stored = study.user_attrs.get(ATTR_SPACE)
    if stored is not None and stored != fingerprint:
        raise UserError(
            f"study '{settings.name}': exists with a different search space "
            f"(from {study.user_attrs.get(ATTR_SPACE_FILE, '?')!r}); "
            "use another --study name or the original file"
        )
    return study


def load_existing(name: str, store: Store) -> optuna.Study:
    """Load a study by name for reading (status, export, trials) or fail in one line."""
    storage = optuna_storage(store)
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
    return dict(Counter(str(t.user_attrs.get("outcome", "-")) for t in trials))


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The best COMPLETE trial, or ``None`` when there is none yet."""
    try:
        return study.best_trial
    except ValueError:
        return None


def trial_params(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The full, retrainable parameter dict stored on a trial."""
    params = trial.user_attrs.get("params")
    if not isinstance(params, dict):
        raise UserError(f"trial {trial.number}: has no stored parameter dict")
    return dict(params)
