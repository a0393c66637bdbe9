"""Train one MLP from a :class:`TrainConfig`, fast, watching every batch.

Keras' ``model.fit`` pays a Python round trip per step, which dominates for small MLPs.
Here a whole epoch runs inside one ``tf.function`` (a ``tf.while_loop`` over batches),
and the loop's condition checks that the batch loss and gradient norm are finite: the
first non-finite batch ends the epoch before its update is applied, so a divergence is
caught on the very batch where it happens and no further epochs are wasted.

The loop itself is :class:`trainer.population.Population` (``train`` is a population of
one); this module holds what describes one run: its records, its result, its epoch end
and its label.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer._tf import tf_keras
from trainer.config import ConfigError, TrainConfig
from trainer.data import Dataset, train_validation_split
from trainer.outcome import Divergence, Outcome, classify
from trainer.preflight import PreflightWarning


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


def train(
    config: TrainConfig,
    *,
    dataset: Dataset | None = None,
    on_epoch_end: EpochCallback | None = None,
    keep_model: bool = False,
    on_preflight: PreflightCallback | None = None,
) -> TrainResult:
    """Train ``config`` and label the run (``ok``, ``diverged``, ``stuck``, ...; see
    :mod:`trainer.outcome`).

    ``dataset`` overrides ``config.dataset`` (already loaded data, e.g. shared by many
    trials). ``on_epoch_end`` may return ``True`` to stop after that epoch.
    ``on_preflight`` receives the pre-flight warnings (see :mod:`trainer.preflight`)
    before the first step; they are also on the result (``warnings``).

    One engine: this is a :class:`trainer.population.Population` of one slot (one
    epoch loop, epoch end, probe, result builder and set of optimizer formulas for a
    single run and for a sweep's populations alike).
    """
    from trainer.population import Population

    _, keras = tf_keras()
    keras.backend.clear_session(free_memory=False)
    pop = Population(config, 1, dataset=dataset, keep_models=keep_model)
    pop.add(config)
    ended: list[tuple[Any, TrainResult]] = []
    while not ended:
        ended = pop.run_epoch(
            None if on_epoch_end is None else lambda _key, record: on_epoch_end(record),
            None if on_preflight is None else lambda _key, warnings: on_preflight(warnings),
        )
    return ended[0][1]


# -- pieces of the engine (trainer.population) that concern one run ---------------------


def _split(data: Dataset, config: TrainConfig) -> tuple[np.ndarray, ...]:
    """``(x_train, y_train, x_val, y_val)``; a batch larger than the training set is a
    :class:`ConfigError`."""
    x_tr, y_tr, x_val, y_val = train_validation_split(data, config.validation_split)
    if config.batch_size > len(x_tr):
        raise ConfigError(
            [f"batch_size: must be <= {len(x_tr)} training examples, got {config.batch_size}"]
        )
    return x_tr, y_tr, x_val, y_val


def _accumulate(
    tf: Any, finite: Any, sums: Sequence[Any], loss: Any, count: Any, hits: Any, g_norm: Any
) -> tuple[Any, ...]:
    """The running sums of the compiled epoch after one batch (inside the graph):
    ``(loss_sum, correct, seen, g_sum, g_max, last_loss)``; a batch that is not ``finite``
    leaves them as they were. Elementwise, so one run or a population's members alike."""
    loss_sum, correct, seen, g_sum, g_max, last_loss = sums
    return (
        tf.where(finite, loss_sum + loss * count, loss_sum),
        tf.where(finite, correct + hits, correct),
        tf.where(finite, seen + count, seen),
        tf.where(finite, g_sum + g_norm, g_sum),
        tf.where(finite, tf.maximum(g_max, g_norm), g_max),
        tf.where(finite, loss, last_loss),
    )


def _epoch_end(
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

    ``sums`` is ``(loss_sum, correct, seen, g_sum, g_max, last_loss, bad_loss, bad_grad)``;
    ``measured`` the record's other fields (``val_loss``, ``val_accuracy``, ``seconds``,
    ``dead_fraction``, ``saturated_fraction``).
    """
    loss_sum, correct, seen, g_sum, g_max, last_loss, bad_loss, bad_grad = sums
    good = int(batches) - (0 if ok else 1)
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
        **measured,
    )
    return record, divergence, last_finite_loss


def _chance_accuracy(y_test: np.ndarray, num_classes: int) -> float:
    """Accuracy of always answering the majority class of the test set."""
    return float(np.bincount(y_test, minlength=num_classes).max() / len(y_test))


def _max_finite(values: Sequence[float | None]) -> float | None:
    finite = [v for v in values if v is not None and np.isfinite(v)]
    return max(finite) if finite else None


def _classify_run(
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
    return classify(
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
        config=config,
    )


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)
