"""Tests for trainer.model: initializer statistics, seeding, architecture, optimizers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer._tf import tf_keras
from trainer.config import WEIGHT_INITS, TrainConfig
from trainer.model import build_model, build_optimizer, initializer, layer_seed

SHAPE = (400, 250)  # 100k draws: sample std within ~0.5% of the true one
FAN_IN, FAN_OUT = SHAPE


def draw(kind: str, scale: float, seed: int = 1, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    return np.asarray(initializer(kind, scale, seed)(shape), dtype=np.float64)


# --------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("scale", [0.001, 0.5, 1.0, 3.0])
def test_normal_has_mean_zero_and_std_scale(scale: float) -> None:
    w = draw("normal", scale)
    assert w.std() == pytest.approx(scale, rel=0.02)
    assert abs(w.mean()) < 0.02 * scale
    assert np.abs(w).max() > 3 * scale  # untruncated: 100k draws reach past 3 sigma


@pytest.mark.parametrize("scale", [0.001, 1.0])
def test_truncated_normal_is_cut_at_two_stddev(scale: float) -> None:
    w = draw("truncated_normal", scale)
    # N(0, scale) truncated to ±2 scale has std 0.8796 * scale (Keras' TruncatedNormal)
    assert w.std() == pytest.approx(0.8796 * scale, rel=0.02)
    assert np.abs(w).max() <= 2 * scale * (1 + 1e-6)
    assert abs(w.mean()) < 0.02 * scale


@pytest.mark.parametrize("scale", [0.05, 1.0, 2.5])
def test_uniform_stays_within_plus_minus_scale(scale: float) -> None:
    w = draw("uniform", scale)
    assert w.min() >= -scale
    assert w.max() <= scale
    assert w.min() < -0.99 * scale
    assert w.max() > 0.99 * scale
    assert w.std() == pytest.approx(scale / math.sqrt(3), rel=0.02)


@pytest.mark.parametrize(
    ("kind", "scale", "value"),
    [
        ("zeros", 1.0, 0.0),
        ("zeros", 5.0, 0.0),
        ("ones", 1.0, 1.0),
        ("ones", 0.0, 1.0),  # scale does not change ones
        ("constant", 0.25, 0.25),
        ("constant", -2.0, -2.0),
        ("constant", 0.0, 0.0),
        ("normal", 0.0, 0.0),  # a zero scale is a zero init
        ("uniform", 0.0, 0.0),
        ("glorot_uniform", 0.0, 0.0),
    ],
)
def test_deterministic_initializers(kind: str, scale: float, value: float) -> None:
    w = draw(kind, scale, shape=(7, 3))
    np.testing.assert_array_equal(w, np.full((7, 3), value))


@pytest.mark.parametrize(
    ("kind", "scale", "std"),
    [
        ("glorot_uniform", 1.0, math.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("glorot_normal", 1.0, math.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("he_normal", 1.0, math.sqrt(2 / FAN_IN)),
        ("he_uniform", 1.0, math.sqrt(2 / FAN_IN)),
        ("lecun_normal", 1.0, math.sqrt(1 / FAN_IN)),
        ("he_normal", 4.0, math.sqrt(8 / FAN_IN)),  # scale multiplies the variance
        ("glorot_uniform", 0.5, math.sqrt(1 / (FAN_IN + FAN_OUT))),
    ],
)
def test_variance_scaling_initializers(kind: str, scale: float, std: float) -> None:
    w = draw(kind, scale)
    assert w.std() == pytest.approx(std, rel=0.02)
    if kind.endswith("uniform"):
        assert np.abs(w).max() <= math.sqrt(3) * std * (1 + 1e-6)


@pytest.mark.parametrize("kind", [k for k in WEIGHT_INITS if k not in ("zeros", "ones")])
def test_seeded_initializers_are_reproducible(kind: str) -> None:
    a = draw(kind, 0.7, seed=3, shape=(20, 10))
    b = draw(kind, 0.7, seed=3, shape=(20, 10))
    np.testing.assert_array_equal(a, b)
    if kind != "constant":
        c = draw(kind, 0.7, seed=4, shape=(20, 10))
        assert not np.allclose(a, c)


def test_layer_seeds_are_distinct() -> None:
    seeds = {
        layer_seed(s, layer, b) for s in range(5) for layer in range(16) for b in (False, True)
    }
    assert len(seeds) == 5 * 16 * 2


# --------------------------------------------------------------------------- build_model


def weights_of(config: TrainConfig, features: int = 20, classes: int = 10) -> list[np.ndarray]:
    return [np.asarray(w) for w in build_model(config, features, classes).get_weights()]


def test_architecture_and_logits_output() -> None:
    config = TrainConfig(hidden_layers=(30, 16), activation="relu", output_activation="softmax")
    model = build_model(config, 784, 10)
    dense = model.layers
    assert [layer.name for layer in dense] == ["hidden_1", "hidden_2", "logits"]
    assert [tuple(layer.kernel.shape) for layer in dense] == [(784, 30), (30, 16), (16, 10)]
    assert [tuple(layer.bias.shape) for layer in dense] == [(30,), (16,), (10,)]
    assert [layer.activation.__name__ for layer in dense] == ["relu", "relu", "linear"]
    assert model.count_params() == 784 * 30 + 30 + 30 * 16 + 16 + 16 * 10 + 10
    # the output is raw logits even with a softmax output activation
    x = np.random.default_rng(0).random((5, 784), dtype=np.float32)
    out = np.asarray(model(x))
    assert out.shape == (5, 10)
    assert not np.allclose(out.sum(axis=1), 1.0)


def test_no_hidden_layer_is_logistic_regression() -> None:
    model = build_model(TrainConfig(hidden_layers=()), 784, 10)
    assert [layer.name for layer in model.layers] == ["logits"]
    assert tuple(model.layers[0].kernel.shape) == (784, 10)


def test_build_model_applies_the_configured_initializers() -> None:
    config = TrainConfig(
        hidden_layers=(300,),
        weight_init="normal",
        weight_init_scale=0.5,
        bias_init="constant",
        bias_init_scale=0.1,
    )
    k1, b1, k2, b2 = weights_of(config, features=400, classes=300)
    for kernel in (k1, k2):
        assert kernel.std() == pytest.approx(0.5, rel=0.02)
    np.testing.assert_array_equal(b1, np.full(300, 0.1, np.float32))
    np.testing.assert_array_equal(b2, np.full(300, 0.1, np.float32))


def test_same_config_builds_the_same_weights() -> None:
    config = TrainConfig(hidden_layers=(12, 12), weight_init="normal", bias_init="normal", seed=5)
    for a, b in zip(weights_of(config), weights_of(config), strict=True):
        np.testing.assert_array_equal(a, b)
    other = weights_of(config.replace(seed=6))
    assert not np.allclose(weights_of(config)[0], other[0])


@pytest.mark.parametrize("kind", ["normal", "uniform", "truncated_normal", "glorot_uniform"])
def test_layers_get_different_seeds(kind: str) -> None:
    # hidden 10-10 with 10 classes: the 2nd and 3rd kernels have the same (10, 10) shape
    config = TrainConfig(hidden_layers=(10, 10), weight_init=kind, bias_init="normal", seed=0)
    k1, b1, k2, b2, k3, b3 = weights_of(config, features=10, classes=10)
    assert not np.allclose(k1, k2)
    assert not np.allclose(k2, k3)
    assert not np.allclose(b1, b2)
    assert not np.allclose(b2, b3)
    assert not np.allclose(k1[0], b1)  # weights and biases use different seeds too


def test_zero_init_gives_identical_units() -> None:
    config = TrainConfig(hidden_layers=(16, 16), weight_init="zeros", bias_init="zeros")
    for w in weights_of(config, features=784):
        assert not w.any()


# --------------------------------------------------------------------------- optimizers


@pytest.mark.parametrize(
    ("name", "cls", "momentum"),
    [
        ("sgd", "SGD", 0.0),
        ("momentum", "SGD", 0.7),
        ("adam", "Adam", None),
        ("rmsprop", "RMSprop", None),
    ],
)
def test_build_optimizer(name: str, cls: str, momentum: float | None) -> None:
    _, keras = tf_keras()
    config = TrainConfig(optimizer=name, learning_rate=0.125, momentum=0.7)
    opt = build_optimizer(config)
    assert type(opt) is getattr(keras.optimizers, cls)
    assert float(np.asarray(opt.learning_rate)) == pytest.approx(0.125)
    if momentum is not None:
        assert opt.momentum == pytest.approx(momentum)
