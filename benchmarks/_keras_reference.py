"""What the benchmarks and the Keras-equivalence tests measure ``trainer`` against.

* :data:`NIELSEN_NET`: Nielsen's network from chapter 1 of *Neural Networks and Deep
  Learning* (784-30-10 sigmoid, N(0, 1) weights and biases, quadratic loss, SGD lr 3.0,
  batch 10), as ``TrainConfig.from_dict`` params without epochs, seed or data;
* :func:`keras_mlp` / :func:`keras_reference`: the same MLP as a plain ``keras.Sequential``
  (the output activation in its last layer, a Keras loss), trained with Keras' own ``fit``.

Imported as ``benchmarks._keras_reference`` by the benchmark scripts (which put the project
root on ``sys.path``) and by the tests.
"""

from __future__ import annotations

from typing import Any

from trainer._tf import tf_keras
from trainer.config import TrainConfig
from trainer.model import build_optimizer

NIELSEN_NET: dict[str, Any] = {
    "hidden_layers": [30],
    "activation": "sigmoid",
    "output_activation": "sigmoid",
    "weight_init": "normal",
    "weight_init_scale": 1.0,
    "bias_init": "normal",
    "bias_init_scale": 1.0,
    "loss": "quadratic",
    "optimizer": "sgd",
    "learning_rate": 3.0,
    "batch_size": 10,
}


def keras_mlp(config: TrainConfig, features: int, classes: int) -> Any:
    """``keras.Sequential`` of ``config``'s layers, the output activation in the last one
    (Keras' default initializers: set the weights to compare with ``trainer``)."""
    _, keras = tf_keras()
    layers: list[Any] = [keras.Input((features,))]
    layers += [
        keras.layers.Dense(units, activation=config.activation) for units in config.hidden_layers
    ]
    layers.append(keras.layers.Dense(classes, activation=config.output_activation))
    return keras.Sequential(layers)


def keras_loss(config: TrainConfig) -> Any:
    """The Keras loss that ``trainer.losses`` computes for ``config``."""
    tf, keras = tf_keras()
    if config.loss == "mse":
        return keras.losses.MeanSquaredError()
    if config.loss == "quadratic":

        def quadratic(y_true: Any, y_pred: Any) -> Any:
            return 0.5 * tf.reduce_sum(tf.square(y_pred - y_true), axis=-1)

        return quadratic
    if config.output_activation == "sigmoid":
        return keras.losses.BinaryCrossentropy()
    # softmax, and linear (raw outputs, as Keras does with from_logits=False)
    return keras.losses.CategoricalCrossentropy()


def keras_reference(config: TrainConfig, features: int, classes: int, init: list[Any]) -> Any:
    """:func:`keras_mlp` with the weights ``init``, compiled with ``config``'s optimizer
    (:func:`trainer.model.build_optimizer`) and :func:`keras_loss`."""
    model = keras_mlp(config, features, classes)
    model.set_weights(init)
    model.compile(optimizer=build_optimizer(config), loss=keras_loss(config))
    return model
