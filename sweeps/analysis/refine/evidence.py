"""What a finished study says about its own space: which trials failed, which came close
to the best, and where a range can be cut without losing one of the close ones.

A trial is *failed* when its outcome is one of :data:`CUT_LABELS` (it diverged, exploded,
saturated, got stuck, learned too slowly or stayed symmetric); *good* when it did not fail
and came within ``tolerance`` of the best value any trial had at the same epoch (a trial
stopped at a rung is compared with the best at that rung's epoch, not with a finished
one); *poor* when it did not fail but ended more than :data:`POOR_GAP` below that best
(it trained far worse than it should: a rung loser at 0.45 when the best had 0.94); and
none of these otherwise.

A range is cut at one end when, beyond the cut, at least :data:`MIN_FAILED` trials failed
or were poor, they are at least :data:`FAILED_SHARE` of the trials there, and no good
trial is there.
The cut sits midway (on the range's scale, log or linear) between the last trial kept
and the first one cut: a margin on both sides of a boundary known only to that gap.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeps.errors import UserError
from sweeps.store import FAILURE_LABELS
from sweeps.store.schema import ATTR_OUTCOME, ATTR_PARAMS

CUT_LABELS = tuple(label for label in FAILURE_LABELS if label != "dead_units")
"""The failures a refined space steers away from (``dead_units`` learns: not here)."""
WASTED_LABELS = ("diverged", "exploded", "stuck", "saturated")
"""The outcomes counted as wasted trials (the measure issue 25 set its goal in)."""
MIN_FAILED = 3
"""At least this many failed trials beyond a cut, so one unlucky trial never cuts."""
FAILED_SHARE = 0.5
"""... and at least this share of the trials beyond it (the rest came nowhere near the
best: no good trial is ever cut)."""
MIN_TRIALS_TO_DROP = 5
"""A choice is dropped only after this many trials of it, none of them good."""
POOR_GAP = 0.1
"""Poor: more than this share below the best value at the same epoch."""
TOLERANCE = 0.01
"""Good: within this share of the best value at the same epoch (1 % of 0.96 accuracy is
0.0096: a linear net's 0.92 is not close to a tanh net's 0.96)."""


@dataclass(frozen=True)
class Point:
    """One finished trial as refine sees it."""

    number: int
    params: dict[str, Any]
    outcome: str
    failed: bool
    good: bool
    poor: bool = False

    @property
    def bad(self) -> bool:
        """Evidence for a cut: failed, or trained far worse than the best."""
        return self.failed or self.poor


def outcome_of(trial: FrozenTrial) -> str:
    return str(trial.user_attrs.get(ATTR_OUTCOME) or "-")


def points(study: optuna.Study, *, tolerance: float = TOLERANCE) -> list[Point]:
    """Every finished (COMPLETE or PRUNED) trial, failed or good or neither; a
    ``tolerance`` outside (0, 1) is a :class:`UserError`."""
    if not 0 < tolerance < 1:
        raise UserError(f"--tolerance: must be > 0 and < 1, got {tolerance}")
    finished = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if isinstance(t.user_attrs.get(ATTR_PARAMS), dict)
    ]
    maximize = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    best_at = _best_per_step(finished, maximize)
    out = []
    for t in finished:
        outcome = outcome_of(t)
        failed = outcome in CUT_LABELS
        step, value = _last_value(t)
        good = poor = False
        if not failed and value is not None and step in best_at:
            best = best_at[step]
            gap = ((best - value) if maximize else (value - best)) / max(abs(best), 1e-12)
            good, poor = gap <= tolerance, gap > POOR_GAP
        params = dict(t.user_attrs[ATTR_PARAMS])
        out.append(Point(t.number, params, outcome, failed, good, poor))
    return out


def _last_value(trial: FrozenTrial) -> tuple[int | None, float | None]:
    """The trial's value at its last reported epoch (its final value when complete)."""
    if trial.state == TrialState.COMPLETE and trial.values:
        last = max(trial.intermediate_values) if trial.intermediate_values else -1
        return last, float(trial.values[0])
    if not trial.intermediate_values:
        return None, None
    step = max(trial.intermediate_values)
    value = trial.intermediate_values[step]
    return (step, float(value)) if math.isfinite(value) else (None, None)


def _best_per_step(trials: Sequence[FrozenTrial], maximize: bool) -> dict[int, float]:
    """The best value any trial that did not fail had at each epoch, whether it stopped
    there or went on (a finished trial's final value at its last epoch)."""
    best: dict[int, float] = {}
    for t in trials:
        if outcome_of(t) in CUT_LABELS:
            continue
        seen = [(s, v) for s, v in t.intermediate_values.items() if math.isfinite(v)]
        seen.append(_last_value(t))  # type: ignore[arg-type]
        for step, value in seen:
            if step is None or value is None:
                continue
            if step not in best or (value > best[step] if maximize else value < best[step]):
                best[step] = value
    return best


def failures(group: Sequence[Point]) -> str:
    """``"9 diverged, 5 exploded, 2 poor"``: why the trials of ``group`` count against
    it, most first."""
    return counted(Counter(p.outcome if p.failed else "poor" for p in group if p.bad))


def wasted(pts: Sequence[Point]) -> Counter[str]:
    """The wasted trials of ``pts`` per outcome (:data:`WASTED_LABELS`)."""
    return Counter(p.outcome for p in pts if p.outcome in WASTED_LABELS)


def counted(counts: Counter[str]) -> str:
    """``"6 saturated, 3 exploded"``: counts, most first (``"none"`` when empty)."""
    return ", ".join(f"{n} {label}" for label, n in counts.most_common()) or "none"


@dataclass(frozen=True)
class Cut:
    """One end of a range moved: ``side`` is ``"high"`` or ``"low"``."""

    side: str
    value: float
    beyond: tuple[Point, ...]

    @property
    def failed(self) -> int:
        """The trials beyond the cut that failed or were poor."""
        return sum(p.bad for p in self.beyond)

    def evidence(self, name: str, where: str = "") -> str:
        """``learning_rate <= 2.1: 14/14 trials above failed (9 diverged, 5 exploded)``;
        ``poor``: trained more than :data:`POOR_GAP` below the best at its epoch."""
        sign, side = ("<=", "above") if self.side == "high" else (">=", "below")
        head = f"{name} {sign} {self.value:.3g}{where}: {self.failed}/{len(self.beyond)} trials"
        why = failures(self.beyond)
        if any(p.poor for p in self.beyond):
            return (
                f"{head} {side} failed or were poor ({why}; poor: over {POOR_GAP:.0%} below "
                "the best at its epoch)"
            )
        return f"{head} {side} failed ({why})"


def find_cuts(group: Sequence[Point], name: str, *, log: bool) -> list[Cut]:
    """The cuts at either end of ``name``'s range that ``group`` supports (module doc)."""
    ordered = sorted((p for p in group if _number(p.params.get(name)) is not None), key=_key(name))
    cuts = []
    for side, seq in (("high", ordered[::-1]), ("low", ordered)):
        cut = _one_end(seq, name, log)
        if cut is not None:
            cuts.append(Cut(side, cut[0], tuple(cut[1])))
            ordered = [p for p in ordered if p not in cut[1]]
    return cuts


def _one_end(seq: Sequence[Point], name: str, log: bool) -> tuple[float, list[Point]] | None:
    """From the end ``seq`` starts at: the longest run of trials to cut, and where."""
    best: int | None = None
    failed = 0
    for i, p in enumerate(seq):
        if p.good:
            break
        failed += p.bad
        if failed >= MIN_FAILED and failed >= FAILED_SHARE * (i + 1):
            best = i
    if best is None or best + 1 >= len(seq):
        return None  # nothing to cut, or nothing would be left
    outside, inside = _number(seq[best].params[name]), _number(seq[best + 1].params[name])
    assert outside is not None and inside is not None
    if outside == inside:
        return None
    return _midway(outside, inside, log), list(seq[: best + 1])


def _midway(a: float, b: float, log: bool) -> float:
    if log and a > 0 and b > 0:
        return math.sqrt(a * b)
    return (a + b) / 2


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _key(name: str) -> Any:
    return lambda p: (_number(p.params.get(name)), p.number)


__all__ = [
    "CUT_LABELS",
    "WASTED_LABELS",
    "Cut",
    "Point",
    "counted",
    "failures",
    "find_cuts",
    "outcome_of",
    "points",
    "wasted",
]
