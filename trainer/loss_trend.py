"""Is a run's training loss falling? Judged on the losses there are.

Over several epochs, the epochs' mean losses tell; within one epoch only its batch
losses do, and they are noisy: each batch is other examples, so a loss that wanders is
told from one that falls by a least-squares line through them and the line's fall
against its standard error (:func:`batch_trend`). The compiled epoch keeps the sums the
line needs (:data:`trainer.epoch.SUMS`), so no batch loss leaves the graph. The probe
batch's loss before the first step is one batch: an easy one hides a fall, a hard one
makes a flat epoch look falling, so it only scales the rule (:data:`SLOW_MIN_DROP`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

SLOW_MIN_DROP = 0.01
"""The training loss is *falling* when it fell by at least this share of the initial loss:
across the last epoch, by a least-squares line through its batch losses that stands out
of the batches' noise (:data:`FALL_Z`); or, over several epochs, from the initial loss to
the last epoch's mean, and still falling in the last epoch."""

FALL_Z = 2.0
"""A batch-loss line's fall counts only when it is at least this many standard errors:
batch losses are noisy (each batch is other examples), and a loss that wanders is not
falling (:func:`batch_trend`)."""


@dataclass(frozen=True)
class LossTrend:
    """The training loss from before the first step to the last epoch."""

    start: float
    final: float
    previous: float | None
    batch: tuple[float, float] | None = None
    """The last epoch's batch-loss line, ``(fall, z)`` (:func:`batch_trend`), if known."""

    @property
    def drop(self) -> float:
        """Relative drop from the initial loss (negative when the loss rose)."""
        return (self.start - self.final) / self.start

    @property
    def batch_z(self) -> float | None:
        return None if self.batch is None else self.batch[1]

    @property
    def steady(self) -> bool:
        """The last epoch's batch losses fell by :data:`SLOW_MIN_DROP` of the start, out
        of their noise (:data:`FALL_Z`)."""
        if self.batch is None:
            return False
        fall, z = self.batch
        return fall >= SLOW_MIN_DROP * self.start and z >= FALL_Z

    @property
    def falling(self) -> bool:
        """Clearly falling, judged on the losses there are (:data:`SLOW_MIN_DROP`). One
        epoch's mean against the probe batch's loss decides nothing: the probe is a
        single batch (an easy one hides a fall), and the mean mixes the epoch's first
        batches with its last; the batch losses' own line does."""
        if self.steady:
            return True
        if self.previous is None:
            return self.batch is None and self.drop >= SLOW_MIN_DROP
        return self.drop >= SLOW_MIN_DROP and self.final < self.previous

    def describe(self) -> str:
        """``"(2.3%; the last epoch's batch losses fell 0.052, z=2.8)"``: the drop, and the
        batch line where it is what says falling."""
        text = f"({self.drop:.1%}"
        if self.steady and self.batch is not None:
            fall, z = self.batch
            text += f"; the last epoch's batch losses fell {fall:.3g}, z={z:.1f}"
        return text + ")"


def loss_trend(
    initial_loss: float | None,
    epoch_losses: Sequence[float],
    last_fall: tuple[float, float] | None = None,
) -> LossTrend | None:
    """The trend of a run's training loss, or ``None`` without the numbers (no initial
    loss, no finite epoch loss); ``last_fall`` is the last epoch's batch trend."""
    finite = [float(v) for v in epoch_losses if math.isfinite(v)]
    if initial_loss is None or not math.isfinite(initial_loss) or initial_loss <= 0 or not finite:
        return None
    previous = finite[-2] if len(finite) > 1 else None
    return LossTrend(float(initial_loss), finite[-1], previous, last_fall)


def batch_trend(n: float, s_l: float, s_tl: float, s_ll: float) -> tuple[float, float] | None:
    """``(fall, z)`` of one epoch's ``n`` batch losses from their sums (loss, batch index
    x loss, squared loss; index 0 to n-1): how much a least-squares line through them
    falls across the epoch, and that fall over its standard error. ``None`` under three
    batches. Batch losses are noisy (each batch is other examples), so a loss that
    truly falls is told from one that wanders by the fall's size against that noise."""
    if n < 3:
        return None
    t_mean = (n - 1) / 2
    s_tt = n * (n * n - 1) / 12  # sum of (t - t_mean)^2
    s_tl_c = s_tl - t_mean * s_l
    slope = s_tl_c / s_tt
    residual = max(s_ll - s_l * s_l / n - slope * s_tl_c, 0.0)
    se = math.sqrt(residual / (n - 2) / s_tt)
    fall = -slope * (n - 1)
    if se <= 0:
        return fall, math.copysign(math.inf, fall) if fall else 0.0
    return fall, -slope / se
