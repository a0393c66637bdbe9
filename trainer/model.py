"""Build the Keras MLP described by a :class:`TrainConfig`.

The model ends in a *linear* Dense layer and returns logits: the output activation is
applied by :mod:`trainer.losses`, so softmax + crossentropy and sigmoid + crossentropy
use the numerically stable fused forms.
"""

from __future__ import annotations

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
