"""Tests for trainer.outcome: divergence reasons, identical units, run classification."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from trainer.outcome import STUCK_MARGIN, Divergence, Outcome, classify, identical_units

RNG = np.random.default_rng(0)
RANDOM_KERNELS = [RNG.normal(size=(784, 16)), RNG.normal(size=(16, 16)), RNG.normal(size=(16, 10))]
RANDOM_BIASES = [RNG.normal(size=16), RNG.normal(size=16), RNG.normal(size=10)]
ZERO_KERNELS = [np.zeros((784, 16)), np.zeros((16, 16)), np.zeros((16, 10))]
ZERO_BIASES = [np.zeros(16), np.zeros(16), np.zeros(10)]


def labels_of(outcome: Outcome) -> tuple[str, ...]:
    return tuple(getattr(outcome, "labels", None) or (outcome.label,))


def run(**overrides: Any) -> Outcome:
    args: dict[str, Any] = {
        "test_accuracy": 0.9,
        "chance_accuracy": 0.1135,
        "divergence": None,
        "kernels": RANDOM_KERNELS,
        "biases": RANDOM_BIASES,
        "last_grad_norm": 0.5,
    }
    args.update(overrides)
    return classify(**args)


# --------------------------------------------------------------------------- Divergence


def test_divergence_reason_names_epoch_batch_and_loss() -> None:
    div = Divergence(epoch=1, batch=3, loss=math.inf, grad_norm=math.inf, last_finite_loss=9.8e12)
    assert div.reason == "diverged at epoch 1 batch 3: loss=inf (last finite loss 9.8e+12)"


def test_divergence_reason_with_nan_loss_and_no_finite_loss_before() -> None:
    div = Divergence(epoch=4, batch=1, loss=math.nan, grad_norm=math.nan, last_finite_loss=None)
    assert div.reason == "diverged at epoch 4 batch 1: loss=nan (no finite loss before it)"


def test_divergence_reason_blames_the_gradient_when_the_loss_is_finite() -> None:
    div = Divergence(epoch=2, batch=17, loss=12.5, grad_norm=math.inf, last_finite_loss=3.25)
    assert div.reason == (
        "diverged at epoch 2 batch 17: gradient norm=inf (loss=12.5) (last finite loss 3.25)"
    )


# --------------------------------------------------------------------------- identical_units


def test_identical_units() -> None:
    column = RNG.normal(size=(5, 1))
    same = np.repeat(column, 4, axis=1)
    assert identical_units(same, np.full(4, 0.3))
    assert identical_units(np.zeros((5, 4)), np.zeros(4))
    assert identical_units(same + 1e-8, np.full(4, 0.3))  # within tolerance
    different_weight = same.copy()
    different_weight[2, 3] += 1e-3
    assert not identical_units(different_weight, np.full(4, 0.3))
    different_bias = np.full(4, 0.3)
    different_bias[1] = 0.31
    assert not identical_units(same, different_bias)
    assert not identical_units(np.zeros((5, 1)), np.zeros(1))  # one unit is not symmetry


# --------------------------------------------------------------------------- classify


def test_learning_run_is_ok() -> None:
    outcome = run(test_accuracy=0.95)
    assert outcome.label == "ok"
    assert labels_of(outcome) == ("ok",)
    assert outcome.reason == "test accuracy 0.9500 > chance 0.1135"
    assert outcome.evidence["test_accuracy"] == 0.95
    assert outcome.evidence["chance_accuracy"] == 0.1135


def test_divergence_wins_over_everything() -> None:
    div = Divergence(epoch=3, batch=40, loss=math.nan, grad_norm=math.nan, last_finite_loss=2.0)
    outcome = run(test_accuracy=0.1, divergence=div, kernels=ZERO_KERNELS, biases=ZERO_BIASES)
    assert outcome.label == "diverged"
    assert outcome.reason.startswith(div.reason)
    assert outcome.evidence["epoch"] == 3
    assert outcome.evidence["batch"] == 40
    assert "stuck" not in labels_of(outcome)  # a diverged run is not also "stuck"


def test_accuracy_must_beat_chance_by_more_than_the_margin() -> None:
    chance = 0.1135
    assert run(test_accuracy=chance + STUCK_MARGIN + 1e-4).label == "ok"
    at_margin = run(test_accuracy=chance + STUCK_MARGIN)
    assert at_margin.label == "stuck"
    assert at_margin.reason == (
        f"test accuracy {chance + STUCK_MARGIN:.4f} is not above chance {chance:.4f} "
        f"(majority class) + {STUCK_MARGIN:g}"
    )
    assert run(test_accuracy=0.2, margin=0.1).label == "stuck"
    assert run(test_accuracy=0.2, margin=0.05).label == "ok"


def test_stuck_with_identical_units_says_so() -> None:
    outcome = run(test_accuracy=0.1135, kernels=ZERO_KERNELS, biases=ZERO_BIASES)
    assert "stuck" in labels_of(outcome)
    assert outcome.label in ("stuck", "symmetric")
    assert "identical" in outcome.reason
    assert "hidden layer(s) 1, 2" in outcome.reason
    assert outcome.evidence["symmetric_layers"] == 2.0


def test_only_hidden_layers_are_checked_for_symmetry() -> None:
    # a zero output layer alone is no symmetry problem (its units get different targets)
    kernels = [*RANDOM_KERNELS[:2], np.zeros((16, 10))]
    biases = [*RANDOM_BIASES[:2], np.zeros(10)]
    outcome = run(test_accuracy=0.1135, kernels=kernels, biases=biases)
    assert "identical" not in outcome.reason
    assert "symmetric_layers" not in outcome.evidence
    assert outcome.label == "stuck"


def test_only_the_symmetric_layer_is_named() -> None:
    kernels = [RANDOM_KERNELS[0], np.ones((16, 16)), RANDOM_KERNELS[2]]
    biases = [RANDOM_BIASES[0], np.ones(16), RANDOM_BIASES[2]]
    outcome = run(test_accuracy=0.1, kernels=kernels, biases=biases)
    assert "hidden layer(s) 2 " in outcome.reason
    assert outcome.evidence["symmetric_layers"] == 1.0


def test_stuck_with_zero_gradients_says_so() -> None:
    outcome = run(test_accuracy=0.1135, last_grad_norm=0.0)
    assert outcome.label == "stuck"
    assert "gradients are zero (norm 0)" in outcome.reason
    assert outcome.evidence["grad_norm"] == 0.0


def test_stuck_without_a_visible_cause() -> None:
    outcome = run(test_accuracy=0.05, last_grad_norm=math.nan)
    assert outcome.label == "stuck"
    assert outcome.reason == (
        "test accuracy 0.0500 is not above chance 0.1135 (majority class) + 0.02"
    )


def test_with_evidence_adds_numbers_without_mutating() -> None:
    outcome = run()
    richer = outcome.with_evidence(trial=3.0)
    assert richer.evidence["trial"] == 3.0
    assert "trial" not in outcome.evidence
    assert (richer.label, richer.reason) == (outcome.label, outcome.reason)


@pytest.mark.parametrize("accuracy", [0.0, 0.5, 1.0])
def test_evidence_always_has_the_accuracies(accuracy: float) -> None:
    outcome = run(test_accuracy=accuracy)
    assert outcome.evidence["test_accuracy"] == accuracy
    assert outcome.evidence["chance_accuracy"] == 0.1135
