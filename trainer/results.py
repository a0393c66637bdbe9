"""What a training run produces, and the pieces that turn compiled sums into it.

The boundary between ``trainer`` and its callers (``sweeps`` types against these):
:class:`EpochRecord` per epoch, :class:`TrainResult` per run, the callback types, and
the functions every engine path uses to build them from raw per-member numbers
(:func:`epoch_record`, :func:`label_run`, :func:`chance_accuracy`). Nothing here knows
TensorFlow or the engine, so the engine can import it without a cycle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer.config import TrainConfig
from trainer.loss_trend import batch_trend
from trainer.outcome import Divergence, Outcome, RunEvidence, classify
from trainer.preflight import PreflightWarning

__all__ = [
    "EpochCallback",
    "EpochRecord",
    "PreflightCallback",
    "TrainResult",
    "chance_accuracy",
    "epoch_record",
    "label_run",
]


@dataclass(frozen=True)
class EpochRecord:
    """Metrics of one epoch. ``val_*`` are ``None`` without a validation split.

    ``dead_fraction`` (ReLU) and ``saturated_fraction`` (sigmoid/tanh) are the shares of
    hidden units dead / pinned at a bound on the probe batch at the end of the epoch
    (:mod:`trainer.signals`); ``None`` where they do not apply.
    """

    epoch: int
    loss: float
    accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    grad_norm: float
    grad_norm_max: float
    batches: int
    seconds: float
    dead_fraction: float | None = None
    saturated_fraction: float | None = None
    loss_fall: float | None = None
    """How far the batch losses fell across the epoch, by a least-squares line through
    them (negative: they rose); ``None`` under three finite batches."""
    loss_fall_z: float | None = None
    """``loss_fall`` over its standard error: how clearly the fall stands above the batch
    noise (:func:`trainer.loss_trend.batch_trend`)."""

    def metrics(self) -> dict[str, float]:
        """The finite numeric metrics, keyed as logged to MLflow."""
        names = (
            "loss",
            "accuracy",
            "val_loss",
            "val_accuracy",
            "grad_norm",
            "grad_norm_max",
            "dead_fraction",
            "saturated_fraction",
        )
        values = {n: getattr(self, n) for n in names}
        return {k: float(v) for k, v in values.items() if v is not None and np.isfinite(v)}


EpochCallback = Callable[[EpochRecord], bool | None]
"""Called after each epoch; returning ``True`` stops training (e.g. an Optuna pruner)."""

PreflightCallback = Callable[[tuple[PreflightWarning, ...]], None]
"""Called once with the pre-flight warnings (possibly none), before the first step."""


@dataclass(frozen=True)
class TrainResult:
    """What a run produced; ``outcome.label`` is one of :data:`trainer.outcome.LABELS`.

    ``initial_loss`` / ``initial_grad_norm`` are measured on the probe batch before the
    first step; ``warnings`` are the pre-flight warnings (:mod:`trainer.preflight`).
    """

    config: TrainConfig
    outcome: Outcome
    history: tuple[EpochRecord, ...]
    test_loss: float
    test_accuracy: float
    chance_accuracy: float
    divergence: Divergence | None
    stopped_early: bool
    wall_time: float
    num_train: int
    num_validation: int
    model: Any = field(default=None, repr=False, compare=False)
    weights: tuple[np.ndarray, ...] = field(default=(), repr=False, compare=False)
    """The final weights in Keras order (kernel, bias, per Dense layer): what
    :func:`trainer.model.serving_model` turns into a model that predicts."""
    initial_loss: float | None = None
    initial_grad_norm: float | None = None
    warnings: tuple[PreflightWarning, ...] = ()

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    @property
    def final(self) -> EpochRecord | None:
        return self.history[-1] if self.history else None

    def summary(self) -> dict[str, Any]:
        """Flat, JSON-friendly summary (no history)."""
        final = self.final
        return {
            "outcome": self.outcome.label,
            "reason": self.outcome.reason,
            "epochs_run": self.epochs_run,
            "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
            "chance_accuracy": self.chance_accuracy,
            "val_accuracy": final.val_accuracy if final else None,
            "wall_time": self.wall_time,
            "stopped_early": self.stopped_early,
        }


def epoch_record(
    epoch: int,
    batches: Any,
    ok: Any,
    sums: Sequence[Any],
    last_finite_loss: float | None,
    **measured: Any,
) -> tuple[EpochRecord, Divergence | None, float | None]:
    """One run's epoch from its compiled epoch's outputs: the :class:`EpochRecord`, the
    :class:`Divergence` if the epoch ended on a non-finite batch (``ok`` false), and the
    last finite batch loss so far.

    ``sums`` is ``(*trainer.epoch.SUMS, bad_loss, bad_grad)``; ``measured`` the record's
    other fields (``val_loss``, ``val_accuracy``, ``seconds``, ``dead_fraction``,
    ``saturated_fraction``).
    """
    loss_sum, correct, seen, g_sum, g_max, last_loss, *trend, bad_loss, bad_grad = sums
    good = int(batches) - (0 if ok else 1)  # the finite batches, indexed 0 .. good - 1
    fall = batch_trend(good, *(float(v) for v in trend))
    if good:
        last_finite_loss = float(last_loss)
    divergence = None
    if not ok:
        divergence = Divergence(
            epoch=epoch,
            batch=int(batches),
            loss=float(bad_loss),
            grad_norm=float(bad_grad),
            last_finite_loss=last_finite_loss,
        )
    record = EpochRecord(
        epoch=epoch,
        loss=float(loss_sum / seen) if seen else float("nan"),
        accuracy=float(correct / seen) if seen else float("nan"),
        grad_norm=float(g_sum / good) if good else float("nan"),
        grad_norm_max=float(g_max),
        batches=int(batches),
        loss_fall=None if fall is None else fall[0],
        loss_fall_z=None if fall is None else fall[1],
        **measured,
    )
    return record, divergence, last_finite_loss


def chance_accuracy(y_test: np.ndarray, num_classes: int) -> float:
    """Accuracy of always answering the majority class of the test set."""
    return float(np.bincount(y_test, minlength=num_classes).max() / len(y_test))


def _max_finite(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return max(finite) if finite else None


def label_run(
    history: list[EpochRecord],
    divergence: Divergence | None,
    *,
    kernels: list[np.ndarray],
    biases: list[np.ndarray],
    test_accuracy: float,
    chance_accuracy: float,
    initial_loss: float | None,
    initial_grad_norm: float | None,
    config: TrainConfig | None = None,
) -> Outcome:
    """Label one finished run (shared by the single and population engines): from its
    per-epoch records only, so both engines label the same trajectory the same way."""
    losses = [r.loss for r in history]
    if divergence is not None and divergence.last_finite_loss is not None:
        losses.append(divergence.last_finite_loss)
    last = history[-1] if history else None
    evidence = RunEvidence(
        test_accuracy=test_accuracy,
        chance_accuracy=chance_accuracy,
        divergence=divergence,
        kernels=kernels,
        biases=biases,
        last_grad_norm=last.grad_norm if last else float("nan"),
        initial_loss=_finite_or_none(initial_loss),
        max_loss=_max_finite(losses),
        initial_grad_norm=_finite_or_none(initial_grad_norm),
        max_grad_norm=_max_finite([r.grad_norm_max for r in history]),
        dead_fraction=last.dead_fraction if last else None,
        saturated_fraction=last.saturated_fraction if last else None,
        epoch_losses=[r.loss for r in history],
        epoch_grad_norms=[r.grad_norm for r in history],
        last_fall=_fall(last),
        config=config,
    )
    return classify(evidence)


def _fall(last: EpochRecord | None) -> tuple[float, float] | None:
    if last is None or last.loss_fall is None or last.loss_fall_z is None:
        return None
    return last.loss_fall, last.loss_fall_z


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
