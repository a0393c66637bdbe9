"""Train one MLP from a :class:`TrainConfig`, fast, watching every batch.

Keras' ``model.fit`` pays a Python round trip per step, which dominates for small MLPs.
Here a whole epoch runs inside one ``tf.function`` (a ``tf.while_loop`` over batches),
and the loop's condition checks that the batch loss and gradient norm are finite: the
first non-finite batch ends the epoch before its update is applied, so a divergence is
caught on the very batch where it happens and no further epochs are wasted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer._tf import tf_keras
from trainer.config import ConfigError, TrainConfig
from trainer.data import Dataset, load_dataset, train_validation_split
from trainer.losses import per_example_loss
from trainer.model import build_model, build_optimizer
from trainer.outcome import Divergence, Outcome, classify
from trainer.preflight import PreflightWarning, run_checks
from trainer.signals import Probe


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


class _EpochRunner:
    """Compiled per-epoch loop and evaluation for one model/optimizer pair."""

    def __init__(self, config: TrainConfig, model: Any, optimizer: Any, num_classes: int):
        tf, _ = tf_keras()
        self._tf = tf
        variables = model.trainable_variables
        optimizer.build(variables)
        batch = config.batch_size

        def loss_fn(logits: Any, labels: Any) -> Any:
            onehot = tf.one_hot(labels, num_classes, dtype=logits.dtype)
            return per_example_loss(config.loss, config.output_activation, logits, onehot)

        def epoch(x: Any, y: Any, order: Any) -> Any:
            n = tf.shape(order)[0]
            n_batches = (n + batch - 1) // batch
            zero = tf.constant(0.0)

            def cond(i: Any, ok: Any, *_: Any) -> Any:
                return tf.logical_and(i < n_batches, ok)

            def body(
                i: Any,
                ok: Any,
                loss_sum: Any,
                correct: Any,
                seen: Any,
                g_sum: Any,
                g_max: Any,
                last_loss: Any,
                bad_loss: Any,
                bad_grad: Any,
            ) -> Any:
                idx = order[i * batch : tf.minimum((i + 1) * batch, n)]
                xb = tf.gather(x, idx)
                yb = tf.gather(y, idx)
                with tf.GradientTape() as tape:
                    logits = model(xb, training=True)
                    loss = tf.reduce_mean(loss_fn(logits, yb))
                grads = tape.gradient(loss, variables)
                g_norm = tf.linalg.global_norm(grads)
                finite = tf.logical_and(tf.math.is_finite(loss), tf.math.is_finite(g_norm))

                def step() -> Any:
                    # Apply in cross-replica context: in a replica context the Keras
                    # TF optimizer all-reduces the gradients, and that all-reduce
                    # registers a custom gradient in TensorFlow's global gradient
                    # registry on every trace, which keeps each traced epoch graph
                    # alive forever (~3 MB leaked per train() call in a sweep).
                    tf.distribute.get_replica_context().merge_call(
                        lambda _strategy: optimizer.apply(grads, variables)
                    )
                    return tf.constant(True)

                tf.cond(finite, step, lambda: tf.constant(False))
                hits = tf.reduce_sum(
                    tf.cast(tf.equal(tf.argmax(logits, -1, output_type=tf.int32), yb), tf.float32)
                )
                count = tf.cast(tf.shape(idx)[0], tf.float32)
                sums = (loss_sum, correct, seen, g_sum, g_max, last_loss)
                return (
                    i + 1,
                    finite,
                    *_accumulate(tf, finite, sums, loss, count, hits, g_norm),
                    tf.where(finite, bad_loss, loss),
                    tf.where(finite, bad_grad, g_norm),
                )

            init = (tf.constant(0), tf.constant(True), zero, zero, zero, zero, zero)
            nan = tf.constant(float("nan"))
            return tf.while_loop(cond, body, (*init, nan, zero, zero))

        def evaluate(x: Any, y: Any) -> Any:
            logits = model(x, training=False)
            loss = tf.reduce_mean(loss_fn(logits, y))
            pred = tf.argmax(logits, -1, output_type=tf.int32)
            acc = tf.reduce_mean(tf.cast(tf.equal(pred, y), tf.float32))
            return loss, acc

        self.epoch = tf.function(epoch, reduce_retracing=True)
        self.evaluate = tf.function(evaluate, reduce_retracing=True)


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
    """
    tf, keras = tf_keras()
    data = dataset if dataset is not None else load_dataset(config.dataset)
    x_tr, y_tr, x_val, y_val = _split(data, config)
    started = time.perf_counter()
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(config.seed)
    num_classes = data.num_classes
    model = build_model(config, data.num_features, num_classes)
    runner = _EpochRunner(config, model, build_optimizer(config), num_classes)
    probe = Probe(config, model, x_tr, y_tr, num_classes)
    initial_loss, initial_grad_norm = probe.initial()
    warnings = run_checks(config, num_classes, initial_loss=initial_loss)
    if on_preflight is not None:
        on_preflight(warnings)

    xt = tf.constant(x_tr, dtype=tf.float32)
    yt = tf.constant(y_tr, dtype=tf.int32)
    val = (tf.constant(x_val), tf.constant(y_val, dtype=tf.int32)) if len(x_val) else None
    rng = np.random.default_rng(config.seed)
    history: list[EpochRecord] = []
    divergence: Divergence | None = None
    last_batch_loss: float | None = None
    stopped = False
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        order = tf.constant(rng.permutation(len(x_tr)).astype(np.int32))
        batches, ok, *sums = (v.numpy() for v in runner.epoch(xt, yt, order))
        val_loss = val_acc = None
        if val is not None:
            vl, va = runner.evaluate(*val)
            val_loss, val_acc = float(vl), float(va)
        units = probe.units()
        record, divergence, last_batch_loss = _epoch_end(
            epoch,
            batches,
            ok,
            sums,
            last_batch_loss,
            val_loss=val_loss,
            val_accuracy=val_acc,
            seconds=time.perf_counter() - t0,
            dead_fraction=units.dead_fraction,
            saturated_fraction=units.saturated_fraction,
        )
        history.append(record)
        if divergence is not None:
            break
        if on_epoch_end is not None and on_epoch_end(record):
            stopped = epoch < config.epochs
            break

    x_te, y_te = tf.constant(data.x_test), tf.constant(data.y_test, dtype=tf.int32)
    test_loss, test_acc = (float(v) for v in runner.evaluate(x_te, y_te))
    chance = _chance_accuracy(data.y_test, num_classes)
    outcome = _classify_run(
        history,
        divergence,
        kernels=[layer.kernel.numpy() for layer in model.layers],
        biases=[layer.bias.numpy() for layer in model.layers],
        test_accuracy=test_acc,
        chance_accuracy=chance,
        initial_loss=initial_loss,
        initial_grad_norm=initial_grad_norm,
        config=config,
    )
    return TrainResult(
        config=config,
        outcome=outcome,
        history=tuple(history),
        test_loss=test_loss,
        test_accuracy=test_acc,
        chance_accuracy=chance,
        divergence=divergence,
        stopped_early=stopped,
        wall_time=time.perf_counter() - started,
        num_train=len(x_tr),
        num_validation=len(x_val),
        model=model if keep_model else None,
        initial_loss=initial_loss,
        initial_grad_norm=initial_grad_norm,
        warnings=warnings,
    )


# -- shared with the population engine (trainer.population), which must match train() ------


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
