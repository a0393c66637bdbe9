"""Topping a study up to ``study.trials`` with any number of workers, exactly.

Counting the study's trials and asking for one more is two steps; two workers doing it
at once would both take the last slot. :func:`claim_trials` does both under the study's
lock (a database advisory lock, or a file lock on the journal store), so N workers end
with exactly ``study.trials`` accounted trials (a dead trial counted once, through its
retry).
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from sweeps.runner.liveness import own
from sweeps.space import SearchSpace
from sweeps.store import Store, accounted_trials, study_lock


def claim_trials(
    study: optuna.Study, store: Store, space: SearchSpace, target: int, k: int
) -> list[optuna.Trial]:
    """Ask up to ``k`` trials, no more than the study lacks to reach ``target``.

    Queued trials (retries of dead ones) are asked first and are already counted, so they
    are taken even when the study is full; ``[]`` when there is nothing left to run.
    """
    with study_lock(store, study.study_name):
        left = max(target - accounted_trials(study), 0)
        queued = len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))
        n = min(k, left + queued)
        asked = [study.ask(fixed_distributions=space.distributions) for _ in range(n)]
    own(*asked)  # from here on a death of this process is seen (run/liveness.py)
    return asked
