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
    units = np.concatenate([kernel, bias[None, :]], axis=0).T  # one row per unit
    heads: list[np.ndarray] = []
    sizes: list[int] = []
    for unit in units:
        for g, head in enumerate(heads):
            if np.max(np.abs(unit - head)) < _IDENTICAL_TOL:
                sizes[g] += 1
                break
        else:
            heads.append(unit)
            sizes.append(1)
    return sorted(sizes, reverse=True)


def identical_units(kernel: np.ndarray, bias: np.ndarray) -> bool:
    """True when a layer of several units computes only a few distinct things: at most
    :data:`SYMMETRIC_SHARE` of its units are distinct (one, for fewer than eight)."""
    n = kernel.shape[-1]
    if n < 2:
        return False
    return len(distinct_units(kernel, bias)) <= max(1, int(n * SYMMETRIC_SHARE))


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
