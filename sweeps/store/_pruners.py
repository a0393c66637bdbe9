"""The median and percentile pruners, with running and pruned trials counted as peers
(``study.pruner_peers: running``).

Optuna's :class:`~optuna.pruners.PercentilePruner` (and ``MedianPruner``, its 50th
percentile) compares a trial only with *completed* trials. Trained one at a time that is
all there is; but when K trials run together (a population, or several workers on one
study) none of the first K can be pruned, since none has completed before they all
finish: with K=64, the whole first wave of a 100-trial sweep trains to its last epoch.
This rule counts as peers the completed trials, the running ones that have reported a
value at the same step, and the pruned ones: a trial pruned before that step counts at
the value it was stopped at. Without the pruned, the peers at each step would be only
the survivors of the last, and a wave would halve itself at every epoch.

The price, measured on the 100-trial benchmark (benchmarks/README.md): about a third
less training, and a best trial slightly worse, since fewer trials train to the end.
"""

from __future__ import annotations

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

__all__ = ["PeerPercentilePruner"]

_PEER_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


class PeerPercentilePruner(optuna.pruners.BasePruner):
    """Prune a trial whose best value so far is below ``percentile`` of its peers' at this
    step (above, when minimising). Peers, other than the trial itself: the completed
    trials and the running ones with a value at this step, and the pruned ones (at this
    step, or at their last value if they stopped before it). Pruning starts once there
    are ``n_startup_trials`` peers and the step is at least ``n_warmup_steps``."""

    def __init__(self, percentile: float, *, n_startup_trials: int, n_warmup_steps: int) -> None:
        if not 0.0 <= percentile <= 100.0:
            raise ValueError(f"percentile must be in [0, 100], got {percentile}")
        self._percentile = percentile
        self._n_startup_trials = n_startup_trials
        self._n_warmup_steps = n_warmup_steps

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self._n_warmup_steps:
            return False
        theirs = [
            value
            for t in study.get_trials(deepcopy=False, states=_PEER_STATES)
            if t.number != trial.number and (value := _value_at(t, step)) is not None
        ]
        if not theirs or len(theirs) < self._n_startup_trials:
            return False
        mine = np.asarray(list(trial.intermediate_values.values()), dtype=float)
        if np.isnan(mine).all():
            return True
        maximize = study.direction == StudyDirection.MAXIMIZE
        best = float(np.nanmax(mine) if maximize else np.nanmin(mine))
        if np.isnan(theirs).all():
            return False
        q = 100.0 - self._percentile if maximize else self._percentile
        threshold = float(np.nanpercentile(np.asarray(theirs, dtype=float), q))
        return best < threshold if maximize else best > threshold


def _value_at(peer: FrozenTrial, step: int) -> float | None:
    """A peer's value at ``step``; a trial pruned before it stays at its last value."""
    values = peer.intermediate_values
    if step in values:
        return values[step]
    if peer.state == TrialState.PRUNED and values and max(values) < step:
        return values[max(values)]
    return None
