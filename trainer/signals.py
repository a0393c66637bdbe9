"""Cheap health signals of a model, measured on a fixed probe batch.

Nothing here runs per training step. :class:`Probe` holds up to :data:`PROBE_SIZE`
training examples and measures, in one compiled call at the end of each epoch:

* ``dead_fraction`` (ReLU only): the share of hidden units that are never active
  (output exactly 0) on any probe example. A dead ReLU passes no gradient, so it stays
  dead; a large share means the layer has lost most of its capacity.
* ``saturated_fraction`` (sigmoid and tanh only): the share of hidden units pinned near a
  bound of their range (within :data:`SATURATION_MARGIN` of it) on at least
  :data:`PINNED_SHARE` of the probe examples. A pinned unit's derivative is ~0, so it
  learns very slowly, if at all.

For other activations the corresponding signal is ``None`` (it does not apply).
:meth:`Probe.initial` measures the loss and gradient norm of the untrained model on the
same batch, once, before the first step: the pre-flight initial-loss check and the
``exploded`` label compare against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer._tf import tf_keras
from trainer.config import TrainConfig
from trainer.losses import per_example_loss

PROBE_SIZE = 512
"""At most this many training examples (the first ones) form the probe batch."""

SATURATION_MARGIN = 0.01
"""A sigmoid/tanh output within this fraction of its range of a bound is 'at the bound'."""

PINNED_SHARE = 0.9
"""A unit at a bound on at least this share of the probe examples is saturated."""

DEAD_ACTIVATIONS = ("relu",)
SATURATING_ACTIVATIONS = ("sigmoid", "tanh")


@dataclass(frozen=True)
class UnitStats:
    """Shares of hidden units that are dead / saturated; ``None`` where not applicable."""

    dead_fraction: float | None
    saturated_fraction: float | None


class Probe:
    """A fixed probe batch and compiled signal functions for one model."""

    def __init__(
        self,
        config: TrainConfig,
        model: Any,
        x: np.ndarray,
        y: np.ndarray,
        num_classes: int,
    ) -> None:
        tf, _ = tf_keras()
        n = min(PROBE_SIZE, len(x))
        self._x = tf.constant(x[:n], dtype=tf.float32)
        self._y = tf.constant(y[:n], dtype=tf.int32)
        self._model = model
        self._config = config
        self._num_classes = num_classes
        self.hidden_units = int(sum(config.hidden_layers))
        activation = config.activation
        self._dead = activation in DEAD_ACTIVATIONS and self.hidden_units > 0 and n > 0
        self._saturating = activation in SATURATING_ACTIVATIONS and self.hidden_units > 0 and n > 0
        low, high = (0.0, 1.0) if activation == "sigmoid" else (-1.0, 1.0)
        margin = SATURATION_MARGIN * (high - low)
        hidden = list(model.layers[:-1])

        def units(x: Any) -> Any:
            h = x
            dead = tf.constant(0.0)
            pinned = tf.constant(0.0)
            for layer in hidden:
                h = layer(h)
                if self._dead:
                    never = tf.reduce_all(h <= 0.0, axis=0)
                    dead += tf.reduce_sum(tf.cast(never, tf.float32))
                if self._saturating:
                    near = tf.logical_or(h <= low + margin, h >= high - margin)
                    share = tf.reduce_mean(tf.cast(near, tf.float32), axis=0)
                    pinned += tf.reduce_sum(tf.cast(share >= PINNED_SHARE, tf.float32))
            return dead, pinned

        self._units = tf.function(units) if (self._dead or self._saturating) else None

    def initial(self) -> tuple[float, float]:
        """``(loss, gradient norm)`` of the model as it is now (call before the first step).

        Runs eagerly: once per run, cheaper than compiling it.
        """
        tf, _ = tf_keras()
        if int(self._x.shape[0]) == 0:
            return float("nan"), float("nan")
        variables = self._model.trainable_variables
        with tf.GradientTape() as tape:
            logits = self._model(self._x, training=False)
            onehot = tf.one_hot(self._y, self._num_classes, dtype=logits.dtype)
            loss = tf.reduce_mean(
                per_example_loss(self._config.loss, self._config.output_activation, logits, onehot)
            )
        grads = tape.gradient(loss, variables)
        return float(loss), float(tf.linalg.global_norm([g for g in grads if g is not None]))

    def units(self) -> UnitStats:
        """Dead / saturated shares of the hidden units, in one compiled call."""
        if self._units is None:
            return UnitStats(None, None)
        dead, pinned = (float(v) for v in self._units(self._x))
        total = float(self.hidden_units)
        return UnitStats(
            dead / total if self._dead else None,
            pinned / total if self._saturating else None,
        )


__all__ = [
    "DEAD_ACTIVATIONS",
    "PINNED_SHARE",
    "PROBE_SIZE",
    "SATURATING_ACTIVATIONS",
    "SATURATION_MARGIN",
    "Probe",
    "UnitStats",
]
