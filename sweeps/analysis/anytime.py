"""Best so far against the clock: when did the study hold its best config, and how fast
did it get there? (``status``, the report's anytime figure, the benchmarks.)

Seconds count from the study's first trial start, read from Optuna's own timestamps, so
a study resumed by several commands or workers reads as one timeline. The value is the
first objective of the completed trials that are not failures, as the best trial is
chosen (a pruned trial's last value is not a result it was trained for, nor is a stuck
net's value one it learned).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from sweeps.store import is_failure, primary_value
from sweeps.store.schema import ATTR_STOPPED_AT_RUNG

__all__ = ["BestPoint", "best_so_far", "clock", "rung_stops", "started_at"]


@dataclass(frozen=True)
class BestPoint:
    """The best value so far changed: at ``seconds`` into the study, trial ``number``."""

    seconds: float
    number: int
    value: float


def started_at(trials: Sequence[FrozenTrial]) -> float | None:
    """When the study's first trial started (seconds since the epoch)."""
    starts = [t.datetime_start.timestamp() for t in trials if t.datetime_start is not None]
    return min(starts) if starts else None


def best_so_far(study: optuna.Study) -> list[BestPoint]:
    """Each time a completed, non-failure trial beat the best before it, in the order
    trials ended (the study's best trial as it stood then: :func:`~sweeps.store.best_trial`)."""
    trials = study.get_trials(deepcopy=False)
    start = started_at(trials)
    maximize = study.directions[0] == StudyDirection.MAXIMIZE
    done = [
        (t.datetime_complete.timestamp(), t.number, value)
        for t in trials
        if t.state == TrialState.COMPLETE
        and not is_failure(t)
        and t.datetime_complete is not None
        and (value := primary_value(t)) is not None
    ]
    points: list[BestPoint] = []
    for end, number, value in sorted(done):
        best = points[-1].value if points else None
        if best is None or (value > best if maximize else value < best):
            points.append(BestPoint(end - (start or end), number, value))
    return points


def rung_stops(trials: Sequence[FrozenTrial]) -> dict[int, int]:
    """Trials stopped at each rung (``pruner: asha``), by rung: apart from failures."""
    rungs = (t.user_attrs.get(ATTR_STOPPED_AT_RUNG) for t in trials)
    return dict(sorted(Counter(int(r) for r in rungs if r is not None).items()))


def clock(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` past an hour): how the views print a moment of a sweep."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
