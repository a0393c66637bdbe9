"""Symmetry: the units of a hidden layer that compute the same thing.

A zero or constant init gives every unit of a layer the same gradient, so they stay
identical and the layer is one unit wide. Rounding can differ between the vector lanes
of a matmul, which splits such a layer into a few groups of identical units (Adam then
amplifies the split into visibly different groups); a layer of 30 units that are 2 is
still broken, whatever the accuracy it reaches."""

from __future__ import annotations

import numpy as np

SYMMETRIC_SHARE = 0.25
"""``symmetric`` when a hidden layer's units fall into at most this share as many distinct
units (identical columns of the kernel and bias) as it has: a constant init's units stay
identical, or split into a few identical groups when rounding differs between vector
lanes (Adam then amplifies the split)."""


_IDENTICAL_TOL = 1e-6


def distinct_units(kernel: np.ndarray, bias: np.ndarray) -> list[int]:
    """The sizes of a layer's groups of identical units (same kernel column and bias, to
    :data:`_IDENTICAL_TOL`), largest first: ``[30]`` for 30 identical units."""
    groups = _groups(kernel, bias, limit=kernel.shape[-1])
    assert groups is not None  # never more groups than units
    return groups


def symmetric_groups(kernel: np.ndarray, bias: np.ndarray) -> list[int] | None:
    """The layer's groups of identical units (:func:`distinct_units`) when they make it
    symmetric: several units in at most :data:`SYMMETRIC_SHARE` as many groups (one, for
    fewer than eight units); ``None`` otherwise, found as soon as there are too many."""
    n = kernel.shape[-1]
    if n < 2:
        return None
    return _groups(kernel, bias, limit=max(1, int(n * SYMMETRIC_SHARE)))


def identical_units(kernel: np.ndarray, bias: np.ndarray) -> bool:
    """True when a layer of several units computes only a few distinct things
    (:func:`symmetric_groups`)."""
    return symmetric_groups(kernel, bias) is not None


def _groups(kernel: np.ndarray, bias: np.ndarray, *, limit: int) -> list[int] | None:
    """Group sizes, largest first; ``None`` once a group past ``limit`` would be needed
    (a random init's layer is found out after ``limit + 1`` units, one comparison each)."""
    units = np.concatenate([kernel, bias[None, :]], axis=0).T  # one row per unit
    heads = np.empty((limit, units.shape[1]), dtype=units.dtype)
    sizes: list[int] = []
    for unit in units:
        if sizes:
            close = np.flatnonzero(
                np.max(np.abs(heads[: len(sizes)] - unit), axis=1) < _IDENTICAL_TOL
            )
            if close.size:
                sizes[int(close[0])] += 1
                continue
        if len(sizes) == limit:
            return None
        heads[len(sizes)] = unit
        sizes.append(1)
    return sorted(sizes, reverse=True)


def describe_symmetry(layers: list[tuple[int, list[int]]]) -> str:
    """``all units of hidden layer(s) 1, 2 are identical``; a layer split into a few
    groups says so with their sizes."""
    whole = [str(i) for i, groups in layers if len(groups) == 1]
    parts = [f"all units of hidden layer(s) {', '.join(whole)} are identical"] if whole else []
    parts += [
        f"the {sum(groups)} units of hidden layer {i} are only {len(groups)} distinct "
        f"(identical groups of {', '.join(map(str, groups))})"
        for i, groups in layers
        if len(groups) > 1
    ]
    return "; ".join(parts)
