"""A refined study starts from what its origin learned: the origin's finished trials that
fit in the refined space are copied in when the study is created.

Without them the sampler of a refined study starts from nothing: its first wave is drawn
at random over the new space, where the origin's sampler, resumed, would already know
which corners fail. A copy keeps the trial's values, per-epoch values (so rungs and
pruners judge new trials against it), outcome and MLflow run id, and is marked
``copied_from: <origin>#<number>``: it counts for the sampler, the pruners and the best
trial, never towards the study's trial target (:func:`is_copy`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from sweeps.store.schema import ATTR_COPIED_FROM, ATTR_PARAMS

if TYPE_CHECKING:
    from sweeps.space import SearchSpace


def is_copy(trial: FrozenTrial) -> bool:
    """A trial copied from the study a refined space came from (not run here)."""
    return ATTR_COPIED_FROM in trial.user_attrs


def copy_fitting_trials(study: optuna.Study, space: SearchSpace, storage: Any) -> int:
    """Copy into ``study`` (just created) every finished trial of the study its space was
    refined from (``study.refined_from``) that fits in ``space``; how many. None when
    that study is not in ``storage`` or the space is a depth x width one."""
    origin = space.settings.refined_from
    if not origin or space.layers is not None:
        return 0
    try:
        source = optuna.load_study(study_name=origin, storage=storage)
    except KeyError:
        return 0
    copies = []
    for trial in source.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if is_copy(trial) or len(trial.values or ()) not in (0, len(study.directions)):
            continue
        distributions = _fit(trial, space)
        if distributions is not None:
            copies.append(_copy(trial, distributions, origin))
    if copies:
        study.add_trials(copies)
    return len(copies)


def _fit(trial: FrozenTrial, space: SearchSpace) -> dict[str, BaseDistribution] | None:
    """The distributions the trial's values take in ``space``, or ``None`` when one of
    them (or a fixed value) is outside it."""
    params = trial.user_attrs.get(ATTR_PARAMS)
    if not isinstance(params, Mapping):
        return None
    if any(params.get(name) != value for name, value in space.fixed.items()):
        return None
    found: dict[str, BaseDistribution] = dict(space.distributions)
    decoded = space.params_for({n: trial.params[n] for n in found if n in trial.params})
    for name, cond in space.conditional.items():
        found[name] = cond.distribution_for(decoded)
    for name, dist in found.items():
        if name not in trial.params:
            return None
        if not _inside(dist, trial.params[name]):
            return None
    return found


def _inside(dist: BaseDistribution, value: Any) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    if isinstance(dist, FloatDistribution | IntDistribution):
        return isinstance(value, int | float) and dist.low <= value <= dist.high
    return False


def _copy(trial: FrozenTrial, distributions: dict[str, BaseDistribution], origin: str) -> Any:
    complete = trial.state == TrialState.COMPLETE
    return optuna.trial.create_trial(
        state=trial.state,
        params={name: trial.params[name] for name in distributions},
        distributions=distributions,
        values=list(trial.values) if complete and trial.values else None,
        intermediate_values=dict(trial.intermediate_values),
        user_attrs={**trial.user_attrs, ATTR_COPIED_FROM: f"{origin}#{trial.number}"},
    )


__all__ = ["copy_fitting_trials", "is_copy"]
