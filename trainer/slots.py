"""A population's per-slot variables: one row per slot, written at epoch boundaries.

Every variable of a population (kernels, biases, optimizer state, learning rates,
choice masks, ...) has a row per slot. :class:`SlotVariables` knows, for each, what an
empty slot holds and what a new member's row is (a function of its config), and
writes the slots filled or freed since the last epoch in one pass, each variable once
(:meth:`SlotVariables.write`), growing or shrinking every variable when the
population is resized (the live rows move with their values). What the variables mean
is the graph's business (:mod:`trainer.graph`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer.config import TrainConfig

RowInit = Callable[[TrainConfig], Any]
"""A new member's row of a variable, from its config."""


@dataclass(frozen=True)
class _Rows:
    """How to fill a per-slot variable's row: for an empty slot, for a new member."""

    empty: np.ndarray
    init: RowInit
    trainable: bool


class SlotVariables:
    """Named ``tf.Variable`` s of ``size`` rows each (keys: any hashable; a tuple key is
    named ``part_part`` in TensorFlow)."""

    def __init__(self, tf: Any, size: int) -> None:
        self._tf = tf
        self.size = size
        self._rows: dict[Any, _Rows] = {}
        self._vars: dict[Any, Any] = {}

    def add(
        self,
        key: Any,
        empty: np.ndarray,
        init: RowInit | None = None,
        *,
        trainable: bool = False,
    ) -> None:
        """Create the variable ``key`` with one row per slot, each ``empty``; a new
        member's row is ``init(config)`` (default: ``empty``)."""
        self._rows[key] = _Rows(empty, init or (lambda _: empty), trainable)
        value = np.broadcast_to(empty, (self.size, *empty.shape)).copy()
        self._vars[key] = self._tf.Variable(value, trainable=trainable, name=_var_name(key))

    def __contains__(self, key: Any) -> bool:
        return key in self._vars

    def __getitem__(self, key: Any) -> Any:
        return self._vars[key]

    def empty(self, key: Any) -> np.ndarray:
        """What an empty slot holds in the variable ``key`` (one row)."""
        return self._rows[key].empty

    def names(self) -> list[Any]:
        """The variables' keys, in the order they were added."""
        return list(self._vars)

    def write(self, layout: list[int], pending: Mapping[int, TrainConfig | None]) -> bool:
        """Lay the rows out anew: new row ``i`` is old slot ``layout[i]``, a new member's
        initial row where ``pending`` holds its config, an empty row where it holds
        ``None`` (a freed slot). Returns whether the size changed (new variables were
        made: whoever compiled against the old ones must retrace)."""
        resized = len(layout) != self.size
        for key, rows in self._rows.items():
            var = self._vars[key]
            old = var.numpy()
            new = np.empty((len(layout), *old.shape[1:]), old.dtype) if resized else old
            for i, j in enumerate(layout):
                config = pending.get(j)
                if config is not None:
                    new[i] = rows.init(config)
                elif j in pending:  # a slot freed
                    new[i] = rows.empty
                elif resized:
                    new[i] = old[j]
            if resized:
                self._vars[key] = self._tf.Variable(
                    new, trainable=rows.trainable, name=_var_name(key)
                )
            else:
                var.assign(new)
        self.size = len(layout)
        return resized


def _var_name(key: Any) -> str:
    return "_".join(str(part) for part in key) if isinstance(key, tuple) else str(key)
