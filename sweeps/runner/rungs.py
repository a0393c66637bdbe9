"""Asynchronous successive halving (ASHA) in the slots: ``study.pruner: asha``.

Rungs sit at epochs ``min_epochs * reduction_factor ** k`` (1, 3, 9, ... with the
defaults), short of a trial's last epoch. At a rung a trial goes on only if it is in the
top ``1 / reduction_factor`` of *all* the trials that have reached that rung so far
(running, pruned or complete): no waves and no waiting, as in Li et al., "A System for
Massively Parallel Hyperparameter Tuning" (MLSys 2020). The population engine reports
every member's epoch before any is judged, so the members that reach a rung together
are ranked against each other as well as against the trials before them.

With one objective the rank is the metric's; with several it is the Pareto rank
(non-dominated sorting), then the crowding distance, as NSGA-II ranks a population:
Optuna prunes no multi-objective study (optuna#3450), so the rule is ours, and the
objective values at each rung are kept on the trial (``rung.<epoch>``).

Optuna's ``SuccessiveHalvingPruner`` writes a trial's rung value as it judges it, so the
members of one epoch would be judged against a rung half filled, in the order they are
asked: this rule reads the whole rung first, and judges a population's members at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweeps.store import cost, fronts
from sweeps.store.schema import rung_attr

__all__ = ["RungMember", "RungStop", "Rungs", "judge_rungs", "pareto_order"]

_PEER_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


@dataclass(frozen=True)
class Rungs:
    """Where the rungs are and how many go on from each."""

    min_epochs: int = 1
    reduction_factor: int = 3

    def rung_at(self, epoch: int, last_epoch: int) -> int | None:
        """The rung (1 first) at ``epoch`` for a trial of ``last_epoch`` epochs, or
        ``None``: the last epoch is no rung, the trial ends there anyway."""
        rung, at = 1, self.min_epochs
        while at < epoch:
            rung, at = rung + 1, at * self.reduction_factor
        return rung if at == epoch and epoch < last_epoch else None

    def epochs(self, last_epoch: int) -> list[int]:
        """The rung epochs of a trial of ``last_epoch`` epochs."""
        return [e for e in range(1, last_epoch) if self.rung_at(e, last_epoch) is not None]

    def kept(self, reached: int) -> int:
        """How many of ``reached`` trials at a rung go on (at least one, the best)."""
        return max(1, reached // self.reduction_factor)

    def share(self) -> str:
        """``third`` for 3: the top share that goes on, in words."""
        words = {2: "half", 3: "third", 4: "quarter"}
        return words.get(self.reduction_factor, f"1/{self.reduction_factor}")


@dataclass(frozen=True)
class RungMember:
    """A live trial at the end of an epoch: its objective values there (``None``: not
    finite, so not judged) and its last epoch."""

    number: int
    epoch: int
    last_epoch: int
    values: tuple[float, ...] | None


@dataclass(frozen=True)
class RungStop:
    """A trial stopped at a rung: which, at what epoch, and why in words."""

    rung: int
    epoch: int
    reason: str


def judge_rungs(
    study: optuna.Study,
    rungs: Rungs,
    members: Sequence[RungMember],
    *,
    objectives: Sequence[str],
    directions: Sequence[str],
) -> dict[int, RungStop]:
    """The members that stop at a rung now, by trial number. Their own values must be
    reported already (one objective: the trial's intermediate value; several: the
    ``rung.<epoch>`` attribute); ``members`` overlays them, so a peer read is enough."""
    at_rung = [m for m in members if m.values is not None]
    at_rung = [m for m in at_rung if rungs.rung_at(m.epoch, m.last_epoch) is not None]
    if not at_rung:
        return {}
    trials = study.get_trials(deepcopy=False, states=_PEER_STATES)
    stops: dict[int, RungStop] = {}
    for epoch in sorted({m.epoch for m in at_rung}):
        reached = {t.number: v for t in trials if (v := _value_at(t, epoch, len(objectives)))}
        mine = [m for m in at_rung if m.epoch == epoch]
        reached.update({m.number: m.values for m in mine if m.values is not None})
        order = pareto_order(reached, directions)
        keep = rungs.kept(len(order))
        rank = {number: i for i, number in enumerate(order)}
        for m in mine:
            if rank[m.number] >= keep and not _tied(reached, order, keep, m.number):
                rung = rungs.rung_at(epoch, m.last_epoch) or 0
                why = _reason(rungs, reached, order, keep, m.number, objectives)
                stops[m.number] = RungStop(rung, epoch, f"rung {rung} (epoch {epoch}): {why}")
    return stops


def _value_at(trial: FrozenTrial, epoch: int, objectives: int) -> tuple[float, ...] | None:
    if objectives == 1:
        value = trial.intermediate_values.get(epoch)
        return (float(value),) if value is not None and math.isfinite(value) else None
    stored = trial.user_attrs.get(rung_attr(epoch))
    return tuple(float(v) for v in stored) if isinstance(stored, list) else None


def _tied(reached: dict[int, tuple[float, ...]], order: list[int], keep: int, number: int) -> bool:
    """One objective: a value equal to the last kept one goes on too."""
    last = reached[order[keep - 1]]
    return len(last) == 1 and reached[number] == last


def _reason(
    rungs: Rungs,
    reached: dict[int, tuple[float, ...]],
    order: list[int],
    keep: int,
    number: int,
    objectives: Sequence[str],
) -> str:
    top = f"the top {rungs.share()} ({keep} of {len(order)} trials"
    if len(objectives) == 1:
        mine, last = reached[number][0], reached[order[keep - 1]][0]
        return f"{objectives[0]} {mine:.4f} outside {top}, from {last:.4f})"
    place = order.index(number) + 1
    return f"place {place} by Pareto rank and crowding, outside {top})"


def pareto_order(values: dict[int, tuple[float, ...]], directions: Sequence[str]) -> list[int]:
    """Trial numbers best first: by non-dominated front, then (several objectives) by
    crowding distance within a front, largest first, as NSGA-II; ties by trial number.
    With one objective this is the metric's order."""
    costs = {n: cost(v, directions) for n, v in values.items()}
    if len(directions) == 1:
        return sorted(costs, key=lambda n: (costs[n][0], n))
    order: list[int] = []
    for front in fronts(costs):
        crowding = _crowding(front, costs)
        order.extend(sorted(front, key=lambda n: (-crowding[n], n)))
    return order


def _crowding(front: list[int], costs: dict[int, tuple[float, ...]]) -> dict[int, float]:
    distance = dict.fromkeys(front, 0.0)
    for axis in range(len(costs[front[0]])):
        ranked = sorted(front, key=lambda n: costs[n][axis])
        low, high = costs[ranked[0]][axis], costs[ranked[-1]][axis]
        distance[ranked[0]] = distance[ranked[-1]] = math.inf
        if high == low:
            continue
        for before, n, after in zip(ranked, ranked[1:], ranked[2:], strict=False):
            distance[n] += (costs[after][axis] - costs[before][axis]) / (high - low)
    return distance
