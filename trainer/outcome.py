"""Name what happened to a run, with the numbers behind it.

Labels, in order of precedence (:data:`LABELS`); a run gets *every* label that applies in
``Outcome.labels`` and the first of them as ``Outcome.label``:

1. ``diverged``: a non-finite loss or gradient norm stopped the run (epoch, batch).
2. ``exploded``: the training loss rose above :data:`EXPLODE_LOSS_FACTOR` times its
   initial value, or a batch gradient norm above :data:`EXPLODE_GRAD_FACTOR` times the
   initial gradient norm (measured on the probe batch before the first step).
3. ``symmetric``: all units of a hidden layer are identical (a zero or constant init
   with more than one unit: they get identical gradients and stay identical).
4. ``stuck``: test accuracy not above the chance baseline computed from the label
   distribution (always guessing the majority class: 0.1135 on MNIST test) plus
   :data:`STUCK_MARGIN`; the reason says why when it can see it (zero gradients, dead units).
5. ``dead_units``: more than :data:`DEAD_THRESHOLD` of the ReLU units are never active on
   the probe batch at the end of training.
6. ``saturated``: more than :data:`SATURATED_THRESHOLD` of the sigmoid/tanh units are
   pinned near a bound of their range (see :mod:`trainer.signals`).
7. ``ok``: none of the above.

The order puts the cause before its symptom and the severe before the mild: a run that
diverged usually exploded first; identical units explain a run that is stuck; a run that
does not learn at all is worse than one that learns with dead or saturated units.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

LABELS = ("diverged", "exploded", "symmetric", "stuck", "dead_units", "saturated", "ok")
"""Every outcome label, most important first (the precedence used for ``Outcome.label``)."""

STUCK_MARGIN = 0.02
"""Accuracy must beat the majority-class baseline by more than this to count as learning."""

EXPLODE_LOSS_FACTOR = 10.0
"""``exploded`` when an epoch's training loss exceeds this multiple of the initial loss."""

EXPLODE_GRAD_FACTOR = 100.0
"""``exploded`` when a batch gradient norm exceeds this multiple of the initial one."""

DEAD_THRESHOLD = 0.5
"""``dead_units`` when more than this share of the ReLU units is never active."""

SATURATED_THRESHOLD = 0.5
"""``saturated`` when more than this share of the sigmoid/tanh units is pinned at a bound."""

_IDENTICAL_TOL = 1e-6
_ZERO_GRAD = 1e-8


@dataclass(frozen=True)
class Divergence:
    """Where the first non-finite loss (or gradient norm) appeared; 1-based epoch/batch."""

    epoch: int
    batch: int
    loss: float
    grad_norm: float
    last_finite_loss: float | None

    @property
    def reason(self) -> str:
        what = f"loss={_num(self.loss)}"
        if math.isfinite(self.loss):
            what = f"gradient norm={_num(self.grad_norm)} (loss={_num(self.loss)})"
        last = (
            f" (last finite loss {self.last_finite_loss:.4g})"
            if self.last_finite_loss is not None
            else " (no finite loss before it)"
        )
        return f"diverged at epoch {self.epoch} batch {self.batch}: {what}{last}"


@dataclass(frozen=True)
class Outcome:
    """A label, a one-line human reason and the numbers behind it.

    ``labels`` holds every label that applies, in :data:`LABELS` order; ``label`` is the
    first of them. It defaults to ``(label,)``.
    """

    label: str
    reason: str
    evidence: dict[str, float] = field(default_factory=dict)
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.labels:
            object.__setattr__(self, "labels", (self.label,))

    def with_evidence(self, **more: float) -> Outcome:
        return dataclasses.replace(self, evidence={**self.evidence, **more})


def _num(value: float) -> str:
    return str(value) if not math.isfinite(value) else f"{value:.4g}"


def identical_units(kernel: np.ndarray, bias: np.ndarray) -> bool:
    """True when a layer has more than one unit and all its units compute the same thing."""
    if kernel.shape[-1] < 2:
        return False
    spread = np.max(np.abs(kernel - kernel[:, :1]))
    bias_spread = np.max(np.abs(bias - bias[:1]))
    return bool(max(spread, bias_spread) < _IDENTICAL_TOL)


def classify(
    *,
    test_accuracy: float,
    chance_accuracy: float,
    divergence: Divergence | None,
    kernels: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    last_grad_norm: float,
    margin: float = STUCK_MARGIN,
    initial_loss: float | None = None,
    max_loss: float | None = None,
    initial_grad_norm: float | None = None,
    max_grad_norm: float | None = None,
    dead_fraction: float | None = None,
    saturated_fraction: float | None = None,
) -> Outcome:
    """Label a finished run from its final weights, metrics and signals.

    The signals after ``margin`` are optional: a label whose signal is missing simply
    does not apply (``exploded`` needs ``initial_loss``/``max_loss`` or the gradient norms,
    ``dead_units`` needs ``dead_fraction``, ``saturated`` needs ``saturated_fraction``).
    """
    evidence: dict[str, float] = {
        "test_accuracy": test_accuracy,
        "chance_accuracy": chance_accuracy,
    }
    found: dict[str, str] = {}
    if divergence is not None:
        evidence.update(epoch=divergence.epoch, batch=divergence.batch)
        found["diverged"] = divergence.reason

    exploded: list[str] = []
    loss_ratio = _ratio(max_loss, initial_loss)
    if loss_ratio is not None and max_loss is not None and initial_loss is not None:
        evidence.update(initial_loss=initial_loss, max_loss=max_loss, loss_ratio=loss_ratio)
        if loss_ratio > EXPLODE_LOSS_FACTOR:
            exploded.append(
                f"training loss rose to {max_loss:.4g}, {loss_ratio:.3g}x its initial "
                f"{initial_loss:.4g} (limit {EXPLODE_LOSS_FACTOR:g}x)"
            )
    grad_ratio = _ratio(max_grad_norm, initial_grad_norm)
    if grad_ratio is not None and max_grad_norm is not None and initial_grad_norm is not None:
        evidence.update(
            initial_grad_norm=initial_grad_norm, max_grad_norm=max_grad_norm, grad_ratio=grad_ratio
        )
        if grad_ratio > EXPLODE_GRAD_FACTOR:
            exploded.append(
                f"gradient norm rose to {max_grad_norm:.4g}, {grad_ratio:.3g}x its initial "
                f"{initial_grad_norm:.4g} (limit {EXPLODE_GRAD_FACTOR:g}x)"
            )
    if exploded:
        found["exploded"] = "; ".join(exploded)

    hidden = list(zip(kernels[:-1], biases[:-1], strict=True))
    symmetric = [i + 1 for i, (k, b) in enumerate(hidden) if identical_units(k, b)]
    if symmetric:
        layers = ", ".join(str(i) for i in symmetric)
        found["symmetric"] = (
            f"all units of hidden layer(s) {layers} are identical "
            "(symmetry: zero or constant init; use a random initializer)"
        )
        evidence["symmetric_layers"] = float(len(symmetric))

    learned = test_accuracy > chance_accuracy + margin
    if divergence is None and not learned:
        why: list[str] = []
        if symmetric:
            why.append("identical units")
        if math.isfinite(last_grad_norm) and last_grad_norm < _ZERO_GRAD:
            why.append(f"gradients are zero (norm {last_grad_norm:.2g})")
        if dead_fraction is not None and dead_fraction > DEAD_THRESHOLD:
            why.append(f"{dead_fraction:.0%} of the ReLU units are dead")
        evidence["grad_norm"] = last_grad_norm
        reason = (
            f"test accuracy {test_accuracy:.4f} is not above chance {chance_accuracy:.4f} "
            f"(majority class) + {margin:g}"
        )
        if why:
            reason += ": " + "; ".join(why)
        found["stuck"] = reason

    if dead_fraction is not None:
        evidence["dead_fraction"] = dead_fraction
        if dead_fraction > DEAD_THRESHOLD:
            found["dead_units"] = (
                f"{dead_fraction:.0%} of the ReLU units are never active on the probe batch "
                f"(limit {DEAD_THRESHOLD:.0%})"
            )
    if saturated_fraction is not None:
        evidence["saturated_fraction"] = saturated_fraction
        if saturated_fraction > SATURATED_THRESHOLD:
            found["saturated"] = (
                f"{saturated_fraction:.0%} of the sigmoid/tanh units are pinned at a bound "
                f"(limit {SATURATED_THRESHOLD:.0%})"
            )

    if not found:
        found["ok"] = f"test accuracy {test_accuracy:.4f} > chance {chance_accuracy:.4f}"
    labels = tuple(name for name in LABELS if name in found)
    primary = labels[0]
    reason = found[primary]
    if len(labels) > 1:
        reason += "; also " + "; ".join(f"{name}: {found[name]}" for name in labels[1:])
    return Outcome(primary, reason, evidence, labels)


def _ratio(value: float | None, initial: float | None) -> float | None:
    if value is None or initial is None:
        return None
    if not (math.isfinite(value) and math.isfinite(initial)) or initial <= 0:
        return None
    return value / initial
