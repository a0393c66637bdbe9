"""Build the Keras MLP described by a :class:`TrainConfig`.

The model ends in a *linear* Dense layer and returns logits: the output activation is
applied by :mod:`trainer.losses`, so softmax + crossentropy and sigmoid + crossentropy
use the numerically stable fused forms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from trainer._tf import tf_keras
from trainer.config import TrainConfig

_VARIANCE_SCALING = {
    # name: (variance multiplier, mode, distribution) as in Keras' own initializers
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}


def initializer(kind: str, scale: float, seed: int) -> Any:
    """A seeded Keras initializer; ``scale`` is stddev, limit, value or variance multiplier."""
    _, keras = tf_keras()
    init = keras.initializers
    if kind == "zeros" or (scale == 0.0 and kind not in ("ones", "constant")):
        return init.Zeros()
    if kind == "ones":
        return init.Ones()
    if kind == "constant":
        return init.Constant(scale)
    if kind == "normal":
        return init.RandomNormal(mean=0.0, stddev=scale, seed=seed)
    if kind == "truncated_normal":
        return init.TruncatedNormal(mean=0.0, stddev=scale, seed=seed)
    if kind == "uniform":
        return init.RandomUniform(minval=-scale, maxval=scale, seed=seed)
    base, mode, distribution = _VARIANCE_SCALING[kind]
    return init.VarianceScaling(scale=base * scale, mode=mode, distribution=distribution, seed=seed)


def layer_seed(config_seed: int, layer: int, bias: bool) -> int:
    """Distinct, reproducible seed per layer and per weight/bias tensor."""
    return config_seed * 1000 + 2 * layer + int(bias)


def initial_value(
    config: TrainConfig,
    *,
    layer: int,
    bias: bool,
    shape: tuple[int, ...],
    cache: dict[tuple[Any, ...], np.ndarray],
) -> np.ndarray:
    """Exactly the initial value of :func:`build_model`'s Dense layer ``layer`` (its
    kernel, or its bias): what a population writes into a new member's slot. ``cache``
    keeps values by initializer, scale, seed and shape (members often share them)."""
    if bias:
        kind, scale = config.bias_init, config.bias_init_scale
    else:
        kind, scale = config.weight_init, config.weight_init_scale
    seed = layer_seed(config.seed, layer, bias)
    key = (kind, scale, seed, shape)
    if key not in cache:
        init = initializer(kind, scale, seed)
        cache[key] = np.asarray(init(shape=shape, dtype="float32"), dtype=np.float32)
    return cache[key]


def build_model(config: TrainConfig, num_features: int, num_classes: int) -> Any:
    """``keras.Sequential`` mapping inputs to output *logits* (pre-activation)."""
    _, keras = tf_keras()
    sizes = [*config.hidden_layers, num_classes]
    layers: list[Any] = [keras.Input(shape=(num_features,))]
    for i, units in enumerate(sizes):
        last = i == len(sizes) - 1
        layers.append(
            keras.layers.Dense(
                units,
                activation=None if last else config.activation,
                kernel_initializer=initializer(
                    config.weight_init, config.weight_init_scale, layer_seed(config.seed, i, False)
                ),
                bias_initializer=initializer(
                    config.bias_init, config.bias_init_scale, layer_seed(config.seed, i, True)
                ),
                name="logits" if last else f"hidden_{i + 1}",
            )
        )
    return keras.Sequential(layers, name="mlp")


def build_optimizer(config: TrainConfig) -> Any:
    """The Keras optimizer named by the config (Keras defaults for everything else)."""
    _, keras = tf_keras()
    opt = keras.optimizers
    if config.optimizer == "sgd":
        return opt.SGD(learning_rate=config.learning_rate)
    if config.optimizer == "momentum":
        return opt.SGD(learning_rate=config.learning_rate, momentum=config.momentum)
    if config.optimizer == "adam":
        return opt.Adam(learning_rate=config.learning_rate)
    return opt.RMSprop(learning_rate=config.learning_rate)


def serving_model(
    config: TrainConfig,
    weights: Sequence[np.ndarray],
    scaling: tuple[np.ndarray, np.ndarray] | None = None,
) -> Any:
    """A Keras model that predicts what a user wants served: :func:`build_model` with
    ``weights`` (Keras order, as on :attr:`TrainResult.weights`) and the config's output
    activation as its last layer, so it returns probabilities (softmax, sigmoid) rather
    than the logits the trainer optimizes. ``scaling`` (``(offset, factor)`` of the
    data's features) becomes its first layer: it takes features as the data holds them."""
    _, keras = tf_keras()
    if len(weights) != 2 * (len(config.hidden_layers) + 1):
        raise ValueError(
            f"weights: {len(config.hidden_layers) + 1} Dense layers need "
            f"{2 * (len(config.hidden_layers) + 1)} arrays, got {len(weights)}"
        )
    num_features, num_classes = weights[0].shape[0], weights[-1].shape[0]
    logits = build_model(config, num_features, num_classes)
    logits.set_weights(list(weights))
    output = keras.layers.Activation(config.output_activation, name="output")
    first: list[Any] = []
    if scaling is not None:  # (x - offset) * factor, as the trainer scaled its data
        offset, factor = (np.asarray(a, np.float64) for a in scaling)
        variance = (1.0 / factor) ** 2
        first.append(keras.layers.Normalization(mean=offset, variance=variance, name="scaling"))
    return keras.Sequential(
        [keras.Input(shape=(num_features,)), *first, *logits.layers, output], name="mlp"
    )


def predict_numpy(config: TrainConfig, weights: Sequence[np.ndarray], x: np.ndarray) -> np.ndarray:
    """The same forward pass in plain NumPy (float64): the reference a served model's
    predictions are checked against."""
    h = np.asarray(x, dtype=np.float64)
    pairs = list(zip(weights[::2], weights[1::2], strict=True))
    for i, (kernel, bias) in enumerate(pairs):
        h = h @ kernel.astype(np.float64) + bias.astype(np.float64)
        if i < len(pairs) - 1:
            h = _NUMPY_ACTIVATIONS[config.activation](h)
    if config.output_activation == "softmax":
        e = np.exp(h - h.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return _NUMPY_ACTIVATIONS[config.output_activation](h)


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805
_NUMPY_ACTIVATIONS: dict[str, Any] = {
    # Keras' definitions (gelu: the exact form, Keras' default)
    "linear": lambda z: z,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
    "selu": lambda z: _SELU_SCALE * np.where(z > 0, z, _SELU_ALPHA * np.expm1(np.minimum(z, 0.0))),
    "softplus": lambda z: np.logaddexp(0.0, z),
    "gelu": lambda z: 0.5 * z * (1.0 + np.vectorize(math.erf)(z / math.sqrt(2.0))),
}
