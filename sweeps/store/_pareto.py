"""Non-dominated sorting over objective values, the one rule for "no other trial beats it
on every objective": the Pareto front the views and ``export`` read
(:func:`sweeps.store.pareto_front`) and the rank successive halving judges by
(:func:`sweeps.runner.rungs.pareto_order`). Plain numbers in, trial numbers out: it
imports nothing, so the store and the runner share it without a cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["cost", "dominates", "first_front", "fronts"]


def cost(values: Sequence[float], directions: Sequence[str]) -> tuple[float, ...]:
    """Objective values as costs: smaller is better on every axis (maximised ones
    negated), the one sign rule for ranking trials."""
    return tuple(x if d == "minimize" else -x for x, d in zip(values, directions, strict=True))


def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Cost ``a`` is no worse than ``b`` anywhere and better somewhere. Two equal points
    do not dominate each other: both stay on a front."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def first_front(costs: Mapping[int, tuple[float, ...]]) -> list[int]:
    """The keys whose cost no other dominates, in key order.

    Checked in lexicographic cost order, where whatever dominates a point comes before
    it, against the front found so far only (a dominated dominator is itself dominated by
    a front member): ``O(n * front)`` rather than ``O(n^2)``."""
    front: list[int] = []
    for key in sorted(costs, key=lambda k: (costs[k], k)):
        if not any(dominates(costs[f], costs[key]) for f in front):
            front.append(key)
    return sorted(front)


def fronts(costs: Mapping[int, tuple[float, ...]]) -> list[list[int]]:
    """Non-dominated sorting: the first front, then the front of what is left, and so on
    (each in key order)."""
    left = dict(costs)
    out: list[list[int]] = []
    while left:
        front = first_front(left)
        out.append(front)
        for key in front:
            del left[key]
    return out
