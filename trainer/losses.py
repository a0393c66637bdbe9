"""Output activations and per-example losses, written once for every engine.

* ``mse``: mean over outputs of the squared error (Keras' ``MeanSquaredError``).
* ``quadratic``: ``0.5 * sum`` over outputs (Nielsen's book), averaged over the batch.
* ``crossentropy``: with softmax, the fused stable softmax cross-entropy; with sigmoid,
  Keras' binary cross-entropy from logits (mean over outputs); with a linear output,
  Keras' categorical cross-entropy on the raw outputs, which trains badly on purpose
  (it is a known bad pairing that the diagnosis warns about).
"""

from __future__ import annotations

from typing import Any

from trainer._tf import tf_keras

_EPSILON = 1e-7  # keras.config.epsilon()


def apply_output(output_activation: str, logits: Any) -> Any:
    """Network outputs from logits."""
    tf, _ = tf_keras()
    if output_activation == "softmax":
        return tf.nn.softmax(logits, axis=-1)
    if output_activation == "sigmoid":
        return tf.sigmoid(logits)
    return logits


def per_example_loss(loss: str, output_activation: str, logits: Any, y_onehot: Any) -> Any:
    """Loss of each example (shape ``logits.shape[:-1]``); the mean over a batch is trained."""
    tf, _ = tf_keras()
    if loss == "crossentropy":
        if output_activation == "softmax":
            return tf.nn.softmax_cross_entropy_with_logits(labels=y_onehot, logits=logits)
        if output_activation == "sigmoid":
            bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=y_onehot, logits=logits)
            return tf.reduce_mean(bce, axis=-1)
        probs = logits / tf.reduce_sum(logits, axis=-1, keepdims=True)
        probs = tf.clip_by_value(probs, _EPSILON, 1.0 - _EPSILON)
        return -tf.reduce_sum(y_onehot * tf.math.log(probs), axis=-1)
    err = tf.square(apply_output(output_activation, logits) - y_onehot)
    if loss == "mse":
        return tf.reduce_mean(err, axis=-1)
    return 0.5 * tf.reduce_sum(err, axis=-1)
