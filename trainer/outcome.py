"""Name what happened to a run: ``ok``, ``diverged`` or ``stuck``, with the evidence.

``stuck`` compares test accuracy with the chance baseline computed from the label
distribution (always guessing the majority class: 0.1135 on MNIST test) plus a margin,
and says why when it can see it: identical units in a layer (symmetry, from a zero or
constant init) or vanishing gradients.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

STUCK_MARGIN = 0.02
"""Accuracy must beat the majority-class baseline by more than this to count as learning."""

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
    """A label, a one-line human reason and the numbers behind it."""

    label: str
    reason: str
    evidence: dict[str, float] = field(default_factory=dict)

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
) -> Outcome:
    """Label a finished run from its final weights and metrics."""
    evidence = {"test_accuracy": test_accuracy, "chance_accuracy": chance_accuracy}
    if divergence is not None:
        evidence.update(epoch=divergence.epoch, batch=divergence.batch)
        return Outcome("diverged", divergence.reason, evidence)
    if test_accuracy > chance_accuracy + margin:
        return Outcome(
            "ok", f"test accuracy {test_accuracy:.4f} > chance {chance_accuracy:.4f}", evidence
        )
    why: list[str] = []
    hidden = list(zip(kernels[:-1], biases[:-1], strict=True))
    symmetric = [i + 1 for i, (k, b) in enumerate(hidden) if identical_units(k, b)]
    if symmetric:
        layers = ", ".join(str(i) for i in symmetric)
        why.append(
            f"all units of hidden layer(s) {layers} are identical "
            "(symmetry: zero or constant init; use a random initializer)"
        )
        evidence["symmetric_layers"] = float(len(symmetric))
    if math.isfinite(last_grad_norm) and last_grad_norm < _ZERO_GRAD:
        why.append(f"gradients are zero (norm {last_grad_norm:.2g})")
    evidence["grad_norm"] = last_grad_norm
    reason = (
        f"test accuracy {test_accuracy:.4f} is not above chance {chance_accuracy:.4f} "
        f"(majority class) + {margin:g}"
    )
    if why:
        reason += ": " + "; ".join(why)
    return Outcome("stuck", reason, evidence)
