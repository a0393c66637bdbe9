"""From a finished study to the changes that make its next search space: choices dropped,
ranges cut, each with the trials that decided it.

Choices go first: a choice none of whose :data:`~.evidence.MIN_TRIALS_TO_DROP` or more
trials came close to the best is dropped, and its trials leave the evidence (a failure
that its choice explains says nothing about a learning rate). Ranges follow, greedily:
among every numeric parameter, cut for all trials at once or per value of one swept
categorical parameter (a learning rate that diverges only with sigmoid is cut only for
sigmoid), the cut that removes the most failed trials is taken, its trials leave the
evidence, and the next is looked for, until no cut removes a failed trial. A parameter is
cut at most once for all trials and once per value of one other parameter; the greedy
order puts the cause before its symptoms (a large init scale that saturates explains
failures a learning-rate cut would otherwise take).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweeps.analysis.refine.evidence import (
    MIN_TRIALS_TO_DROP,
    Cut,
    Point,
    find_cuts,
)
from sweeps.space import SearchSpace
from trainer.config import SHAPE_FIELDS


@dataclass(frozen=True)
class Drop:
    """A categorical choice dropped, with its trials (none good)."""

    param: str
    choice: Any
    trials: tuple[Point, ...]

    def evidence(self, tolerance: float) -> str:
        failed = sum(p.failed for p in self.trials)
        return (
            f"{self.param}: dropped {self.choice}: none of its {len(self.trials)} trials came "
            f"within {tolerance:.0%} of the best at its epoch ({failed} failed)"
        )


@dataclass(frozen=True)
class RangeCut:
    """A numeric parameter's range cut, for every trial (``by`` is ``None``) or per value
    of the categorical parameter ``by``."""

    param: str
    by: str | None
    cuts: dict[Any, tuple[Cut, ...]]

    @property
    def failed(self) -> int:
        return sum(c.failed for cuts in self.cuts.values() for c in cuts)

    @property
    def beyond(self) -> list[Point]:
        return [p for cuts in self.cuts.values() for c in cuts for p in c.beyond]

    def evidence(self) -> list[str]:
        lines: list[str] = []
        for value, cuts in self.cuts.items():
            where = "" if self.by is None else f" with {self.by} {value}"
            lines.extend(c.evidence(self.param, where) for c in cuts)
        return lines


@dataclass(frozen=True)
class Plan:
    """What to change, in the order it was decided."""

    drops: tuple[Drop, ...] = ()
    ranges: tuple[RangeCut, ...] = ()
    left: tuple[Point, ...] = field(default=(), repr=False)
    """The trials the refined space still holds (all of them kept, as evidence)."""


def plan(space: SearchSpace, pts: Sequence[Point]) -> Plan:
    """The changes ``pts`` (a study's finished trials, :func:`~.evidence.points`) support."""
    drops = _drops(space, pts)
    left = [p for p in pts if not any(_in_choice(p, d.param, d.choice) for d in drops)]
    ranges: list[RangeCut] = []
    numeric = [
        (name, dist)
        for name, dist in space.distributions.items()
        if isinstance(dist, FloatDistribution | IntDistribution)
    ]
    while True:
        options = [
            option
            for name, dist in numeric
            for option in _range_options(space, name, dist.log, left, drops)
            if _allowed(option, ranges)
        ]
        if not options:
            break
        best = max(options, key=lambda o: (o.failed, o.by is None))
        ranges.append(best)
        gone = {p.number for p in best.beyond}
        left = [p for p in left if p.number not in gone]
    return Plan(tuple(drops), tuple(ranges), tuple(left))


def _allowed(option: RangeCut, taken: Sequence[RangeCut]) -> bool:
    """A parameter takes one cut for every trial and one per value of one parameter (the
    rules of ``when:`` match on one grouping; the cut for all moves the outer range)."""
    mine = [r for r in taken if r.param == option.param]
    if option.by is None:
        return not any(r.by is None for r in mine)
    return not any(r.by is not None for r in mine)


def _drops(space: SearchSpace, pts: Sequence[Point]) -> list[Drop]:
    drops = []
    for name in _categorical(space):
        choices = space.extremes(name)
        found = []
        for choice in choices:
            trials = tuple(p for p in pts if _in_choice(p, name, choice))
            if len(trials) >= MIN_TRIALS_TO_DROP and not any(p.good for p in trials):
                found.append(Drop(name, choice, trials))
        if len(found) < len(choices):  # never every choice
            drops.extend(found)
    return drops


def _range_options(
    space: SearchSpace, name: str, log: bool, left: Sequence[Point], drops: Sequence[Drop]
) -> list[RangeCut]:
    """The cut for every trial at once, and one per categorical parameter to group by."""
    options: list[RangeCut] = []
    whole = find_cuts(left, name, log=log)
    if whole:
        options.append(RangeCut(name, None, {None: tuple(whole)}))
    if name in SHAPE_FIELDS:  # bounds per group are for member fields only
        return options
    for by in _categorical(space):
        gone = [d.choice for d in drops if d.param == by]
        values = [v for v in space.extremes(by) if v not in gone]
        if len(values) < 2 or any(isinstance(v, list) for v in values):
            continue  # a rule matches scalar choices (not an architecture)
        cuts: dict[Any, tuple[Cut, ...]] = {}
        for value in values:
            group = [p for p in left if _in_choice(p, by, value)]
            found = find_cuts(group, name, log=log)
            if found:
                cuts[value] = tuple(found)
        if cuts:
            options.append(RangeCut(name, by, cuts))
    return [o for o in options if o.failed > 0]


def _categorical(space: SearchSpace) -> list[str]:
    return [n for n, d in space.distributions.items() if isinstance(d, CategoricalDistribution)]


def _in_choice(point: Point, name: str, choice: Any) -> bool:
    """Whether the trial took ``choice`` (decoded: lists compare as lists)."""
    value = point.params.get(name)
    return bool(value == choice) and isinstance(value, bool) == isinstance(choice, bool)


__all__ = ["Drop", "Plan", "RangeCut", "plan"]
