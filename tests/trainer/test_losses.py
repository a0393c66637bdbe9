"""Tests for trainer.losses against a tiny NumPy reference, for every loss/output pair."""

from __future__ import annotations

import numpy as np
import pytest

from trainer._tf import tf_keras
from trainer.config import LOSSES, OUTPUT_ACTIVATIONS
from trainer.losses import apply_output, per_example_loss

EPS = 1e-7


# --------------------------------------------------------------------------- reference


def np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def np_output(output_activation: str, z: np.ndarray) -> np.ndarray:
    if output_activation == "softmax":
        return np_softmax(z)
    if output_activation == "sigmoid":
        return np_sigmoid(z)
    return z


def np_loss(loss: str, output_activation: str, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-example loss, written from the definitions (float64)."""
    a = np_output(output_activation, z)
    if loss == "mse":
        return ((a - y) ** 2).mean(axis=-1)
    if loss == "quadratic":
        return 0.5 * ((a - y) ** 2).sum(axis=-1)
    if output_activation == "softmax":
        return -(y * np.log(a)).sum(axis=-1)
    if output_activation == "sigmoid":
        return -(y * np.log(a) + (1 - y) * np.log(1 - a)).mean(axis=-1)
    # linear: Keras' CategoricalCrossentropy(from_logits=False) on the raw outputs
    p = np.clip(a / a.sum(axis=-1, keepdims=True), EPS, 1 - EPS)
    return -(y * np.log(p)).sum(axis=-1)


def batch(seed: int = 0, n: int = 6, k: int = 4, positive: bool = False) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 2.0, (n, k))
    if positive:
        z = np.abs(z) + 0.05
    y = np.eye(k)[rng.integers(0, k, n)]
    return z.astype(np.float32), y.astype(np.float32)


def ours(loss: str, output_activation: str, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    tf, _ = tf_keras()
    return np.asarray(per_example_loss(loss, output_activation, tf.constant(z), tf.constant(y)))


PAIRS = [(loss, out) for loss in LOSSES for out in OUTPUT_ACTIVATIONS]


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize(("loss", "output_activation"), PAIRS)
def test_loss_matches_numpy_reference(loss: str, output_activation: str) -> None:
    z, y = batch(positive=output_activation == "linear" and loss == "crossentropy")
    got = ours(loss, output_activation, z, y)
    want = np_loss(loss, output_activation, z.astype(np.float64), y.astype(np.float64))
    assert got.shape == (len(z),)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_the_reference_pairs_are_distinct() -> None:
    """Guard the reference itself: mse and quadratic differ by the factor k/2."""
    z, y = batch(k=4)
    mse = np_loss("mse", "sigmoid", z.astype(np.float64), y.astype(np.float64))
    quad = np_loss("quadratic", "sigmoid", z.astype(np.float64), y.astype(np.float64))
    np.testing.assert_allclose(quad, mse * 4 / 2)
    np.testing.assert_allclose(ours("quadratic", "sigmoid", z, y), ours("mse", "sigmoid", z, y) * 2)


def test_hand_computed_values() -> None:
    y = np.array([[0.0, 1.0]], np.float32)
    z = np.array([[1.0, 3.0]], np.float32)
    # mse: ((1-0)^2 + (3-1)^2) / 2 = 2.5 ; quadratic: 0.5 * (1 + 4) = 2.5
    assert ours("mse", "linear", z, y)[0] == pytest.approx(2.5)
    assert ours("quadratic", "linear", z, y)[0] == pytest.approx(2.5)
    # softmax crossentropy: log(1 + e^-2)
    assert ours("crossentropy", "softmax", z, y)[0] == pytest.approx(np.log1p(np.exp(-2.0)))
    # linear crossentropy: -log(3 / 4)
    assert ours("crossentropy", "linear", z, y)[0] == pytest.approx(-np.log(0.75))


def test_linear_crossentropy_clips_like_keras_on_negative_outputs() -> None:
    # raw outputs with a negative target entry: p is clipped to eps (a huge loss, no NaN)
    z = np.array([[2.0, -1.0, 0.5], [0.2, 0.3, 0.5]], np.float32)
    y = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], np.float32)
    got = ours("crossentropy", "linear", z, y)
    np.testing.assert_allclose(got, np_loss("crossentropy", "linear", z, y), rtol=1e-5)
    assert got[0] == pytest.approx(-np.log(EPS), rel=1e-5)
    assert np.isfinite(got).all()


@pytest.mark.parametrize(("loss", "output_activation"), PAIRS)
def test_loss_matches_keras_losses(loss: str, output_activation: str) -> None:
    """The same values as the Keras loss a Keras model with that output layer would use."""
    tf, keras = tf_keras()
    z, y = batch(seed=1, positive=output_activation == "linear" and loss == "crossentropy")
    outputs = np.asarray(apply_output(output_activation, tf.constant(z)))
    if loss == "mse":
        ref = keras.losses.MeanSquaredError(reduction=None)(y, outputs)
    elif loss == "quadratic":
        ref = 0.5 * tf.reduce_sum(tf.square(outputs - y), axis=-1)
    elif output_activation == "sigmoid":
        ref = keras.losses.BinaryCrossentropy(from_logits=True, reduction=None)(y, z)
    elif output_activation == "softmax":
        ref = keras.losses.CategoricalCrossentropy(from_logits=True, reduction=None)(y, z)
    else:
        ref = keras.losses.CategoricalCrossentropy(from_logits=False, reduction=None)(y, z)
    np.testing.assert_allclose(ours(loss, output_activation, z, y), np.asarray(ref), rtol=1e-5)


def test_stable_forms_survive_extreme_logits() -> None:
    z = np.array([[200.0, -200.0, 0.0]], np.float32)
    y = np.array([[0.0, 1.0, 0.0]], np.float32)
    softmax_ce = ours("crossentropy", "softmax", z, y)[0]
    sigmoid_ce = ours("crossentropy", "sigmoid", z, y)[0]
    assert softmax_ce == pytest.approx(400.0, rel=1e-5)
    assert sigmoid_ce == pytest.approx((200 + 200 + np.log(2)) / 3, rel=1e-5)


@pytest.mark.parametrize("output_activation", OUTPUT_ACTIVATIONS)
def test_apply_output(output_activation: str) -> None:
    z, _ = batch()
    out = np.asarray(apply_output(output_activation, tf_keras()[0].constant(z)))
    np.testing.assert_allclose(out, np_output(output_activation, z.astype(np.float64)), rtol=1e-5)
    if output_activation == "softmax":
        np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-6)
