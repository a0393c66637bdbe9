"""Tests for trainer.outcome: divergence reasons, identical units, run classification."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from trainer.config import TrainConfig
from trainer.loss_trend import batch_trend, loss_trend
from trainer.outcome import (
    EXPLODE_GRAD_FACTOR,
    LABELS,
    STUCK_MARGIN,
    Divergence,
    Outcome,
    RunEvidence,
    classify,
    explosion,
    gradient_scale,
)
from trainer.symmetry import distinct_units, identical_units

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
    margin = args.pop("margin", None)
    evidence = RunEvidence(**args)
    return classify(evidence) if margin is None else classify(evidence, margin=margin)


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


def _split_units(groups: list[int], seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A (784, sum(groups)) kernel whose units are identical within each group."""
    rng = np.random.default_rng(seed)
    heads = rng.normal(size=(785, len(groups)))
    columns = np.repeat(heads, groups, axis=1)
    return columns[:-1], columns[-1]


def test_units_split_into_a_few_identical_groups_are_symmetric() -> None:
    """Issue 25: a constant init trained with Adam ends as groups of 24 and 6 identical
    units (rounding differs between vector lanes): 30 units that are 2."""
    kernel, bias = _split_units([24, 6])
    assert distinct_units(kernel, bias) == [24, 6]
    assert identical_units(kernel, bias)
    assert identical_units(*_split_units([20, 5, 5]))  # 3 distinct <= 30 * 0.25
    assert not identical_units(*_split_units([1] * 30))  # every unit its own
    assert not identical_units(*_split_units([15] + [1] * 15))  # 16 distinct of 30
    assert not identical_units(*_split_units([3, 1]))  # under eight units: one group only


def test_a_split_symmetric_layer_that_learns_is_symmetric_not_ok() -> None:
    kernel, bias = _split_units([24, 6])
    outcome = run(
        test_accuracy=0.43,
        kernels=[kernel, RNG.normal(size=(30, 10))],
        biases=[bias, np.zeros(10)],
    )
    assert outcome.label == "symmetric"
    assert "30 units of hidden layer 1 are only 2 distinct (identical groups of 24, 6)" in (
        outcome.reason
    )


# --------------------------------------------------------------------------- batch_trend


@pytest.mark.parametrize("slope", [-0.002, 0.0, 0.001])
def test_batch_trend_is_a_least_squares_line_through_the_batch_losses(slope: float) -> None:
    rng = np.random.default_rng(3)
    t = np.arange(281.0)
    losses = 2.5 + slope * t + rng.normal(scale=0.05, size=t.size)
    fall, z = batch_trend(t.size, losses.sum(), (t * losses).sum(), (losses * losses).sum())
    (fit, _), cov = np.polyfit(t, losses, 1, cov=True)  # NumPy's fit as the reference
    assert fall == pytest.approx(-fit * (t.size - 1), rel=1e-9)
    assert z == pytest.approx(-fit / math.sqrt(cov[0, 0]), rel=1e-9)
    assert batch_trend(2, 5.0, 2.5, 12.5) is None  # no line through two points
    assert batch_trend(3, 6.0, 6.0, 14.0) == (pytest.approx(0.0), 0.0)  # 2, 2, 2: flat


def test_a_probe_that_hides_a_steady_fall_makes_slow_not_stuck() -> None:
    """Issue 25: one epoch, probe 2.503 -> mean 2.498 (0.2 %: flat by the old rule), but
    the 281 batch losses fall 0.076 (3 %) at 3.8 standard errors: slow."""
    evidence = {
        "test_accuracy": 0.077,
        "initial_loss": 2.503,
        "max_loss": 2.4977,
        "epoch_losses": [2.4977],
        "last_grad_norm": 2.4,
        "config": TrainConfig(activation="relu", optimizer="adam", learning_rate=1e-6),
    }
    outcome = run(**evidence, last_fall=(0.076, 3.8))
    assert outcome.labels == ("slow",)
    assert "batch losses fell 0.076, z=3.8" in outcome.reason
    assert outcome.evidence["loss_fall_z"] == 3.8
    # the same fall inside the batch noise, or under 1 % of the start, is no fall
    for fall in ((0.076, 1.2), (0.02, 9.0), (-0.01, -0.5)):
        assert run(**evidence, last_fall=fall).labels == ("stuck",)


def test_a_hard_probe_batch_does_not_make_a_flat_epoch_falling() -> None:
    """Probe 2.512 -> mean 2.486 is 1 % down, but the batch losses rise: stuck."""
    outcome = run(
        test_accuracy=0.115,
        initial_loss=2.512,
        max_loss=2.486,
        epoch_losses=[2.486],
        last_fall=(-0.0096, -0.48),
    )
    assert outcome.labels == ("stuck",)
    assert "batch losses rose 0.0096, z=-0.5" in outcome.reason


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


# --------------------------------------------------------------------------- exploded (issue 14)

# The false alarm, as measured: linear hidden units, quadratic on softmax, SGD 1.31,
# batch 10, N(0, 0.059) weights. The loss never rises above its start; the largest batch
# gradient norm is 102x a near-zero initial one (the init is tiny), ~25x its running median.
FALSE_ALARM: dict[str, Any] = {
    "initial_loss": 0.4521,
    "max_loss": 0.2965,
    "initial_grad_norm": 0.05082,
    "max_grad_norm": 5.164,
    "epoch_losses": [0.2965, 0.2815, 0.2958, 0.2954],
    "epoch_grad_norms": [0.5279, 0.2968, 0.2111, 0.2055],
}


def test_a_loss_that_never_rises_is_not_exploded_whatever_the_initial_gradient() -> None:
    outcome = run(test_accuracy=0.6955, **FALSE_ALARM)
    assert outcome.labels == ("ok",)
    ev = outcome.evidence
    assert ev["grad_ratio"] > EXPLODE_GRAD_FACTOR  # what used to trigger "exploded"
    assert ev["grad_scale"] == pytest.approx(0.2111)  # median of initial + epoch means
    assert ev["grad_spike_ratio"] < EXPLODE_GRAD_FACTOR
    assert ev["loss_ratio"] < 1
    # even a far larger spike does not make it exploded while the loss never rose
    outcome = run(test_accuracy=0.6955, **{**FALSE_ALARM, "max_grad_norm": 1e6})
    assert outcome.labels == ("ok",)
    assert outcome.evidence["grad_spike_ratio"] > EXPLODE_GRAD_FACTOR


@pytest.mark.parametrize(
    ("initial", "peak", "final", "grads", "exploded", "why"),
    [
        (2.3, 50.0, 40.0, [1.0], True, "rose to 50"),  # x21: a blow-up
        (2.3, 20.0, 2.0, [1.0], False, ""),  # x8.7 at worst, then recovered below its start
        (2.5, 7.8, 7.8, [1.1, 1.2], True, "ended at 7.8"),  # x3.1 at the end: made worse
        (0.45, 0.67, 0.67, [0.01], False, ""),  # x1.49 at the end, no spike
        (0.45, 0.9, 0.9, [0.012, 0.0], True, "ended at 0.9"),  # bounded loss near its ceiling
        (2.5, 3.3, 2.35, [0.63, 0.19], True, "spiked"),  # rose x1.3 with a x130 spike
        (2.5, 2.7, 2.6, [1.0], False, ""),  # rose x1.08, no spike
    ],
)
def test_explosion_judges_the_loss_trajectory(
    initial: float, peak: float, final: float, grads: list[float], exploded: bool, why: str
) -> None:
    found = explosion(
        initial_loss=initial,
        max_loss=peak,
        initial_grad_norm=1.7 if initial == 2.5 else 0.01,
        max_grad_norm=82.0 if why == "spiked" else 3.0 * max(grads),
        epoch_grad_norms=grads,
        final_loss=final,
    )
    assert found.exploded is exploded
    assert why in found.reason
    assert found.evidence["loss_ratio"] == pytest.approx(peak / initial)


def test_explosion_without_a_loss_is_never_exploded() -> None:
    found = explosion(initial_loss=None, max_loss=None, initial_grad_norm=1e-3, max_grad_norm=1e3)
    assert not found.exploded
    assert found.evidence["grad_ratio"] == pytest.approx(1e6)


def test_gradient_scale_is_the_median_of_finite_positive_norms() -> None:
    assert gradient_scale(0.05, [0.53, 0.30, 0.21, 0.21]) == pytest.approx(0.21)
    assert gradient_scale(None, [1.0, 3.0]) == pytest.approx(2.0)
    assert gradient_scale(0.0, [math.nan, 2.0]) == pytest.approx(2.0)
    assert gradient_scale(None, []) is None


def test_exploded_reason_names_the_learning_rate() -> None:
    config = TrainConfig(activation="sigmoid", optimizer="sgd", learning_rate=100.0)
    outcome = run(test_accuracy=0.09, initial_loss=2.5, max_loss=134.0, config=config)
    assert outcome.label == "exploded"
    assert "learning_rate 100 too large for sigmoid/crossentropy (sgd)" in outcome.reason


# --------------------------------------------------------------------------- stuck vs slow


def test_slow_sits_right_after_stuck_in_the_precedence() -> None:
    assert LABELS.index("slow") == LABELS.index("stuck") + 1
    assert LABELS.index("slow") < LABELS.index("dead_units")


@pytest.mark.parametrize(
    ("losses", "trend"),
    [
        ([4.32], "falling"),  # 4.57 -> 4.32: -5.5 %
        ([2.27, 2.25], "falling"),
        ([2.30, 2.29], "falling"),  # -1.3 %, still going down
        ([4.562], "flat"),  # -0.2 %
        ([4.0, 4.1], "flat"),  # fell, but rose again in the last epoch
        ([5.0], "flat"),  # rose
        ([], None),
    ],
)
def test_loss_trend(losses: list[float], trend: str | None) -> None:
    start = 4.57 if not losses or losses[0] > 3 else 2.32
    found = loss_trend(start, losses)
    if trend is None:
        assert found is None
    else:
        assert found is not None and found.falling is (trend == "falling")
    assert loss_trend(None, [1.0]) is None
    assert loss_trend(math.nan, [1.0]) is None


SLOW_CONFIG = TrainConfig(
    activation="sigmoid", loss="crossentropy", optimizer="sgd", learning_rate=0.01
)


def test_falling_loss_at_chance_is_slow_and_names_the_learning_rate() -> None:
    outcome = run(
        test_accuracy=0.1135,
        initial_loss=2.30,
        max_loss=2.27,
        epoch_losses=[2.27, 2.25],
        config=SLOW_CONFIG,
    )
    assert outcome.labels == ("slow",)
    assert outcome.reason.startswith(
        "learning_rate 0.01 too small for sigmoid/crossentropy (sgd): loss falling 2.3→2.25"
    )
    assert "not above chance" in outcome.reason
    assert outcome.evidence["loss_drop"] == pytest.approx(0.05 / 2.30)
    assert outcome.evidence["final_loss"] == 2.25
    # without the config it still says what most likely explains it
    assert run(test_accuracy=0.1135, initial_loss=2.3, epoch_losses=[2.2]).reason.startswith(
        "learning rate likely too small"
    )


def test_flat_loss_at_chance_is_stuck_not_slow() -> None:
    outcome = run(
        test_accuracy=0.1135,
        initial_loss=2.503,
        max_loss=2.4977,
        epoch_losses=[2.4977],
        last_grad_norm=2.4,
        config=TrainConfig(activation="relu", learning_rate=1e-6),
    )
    assert outcome.labels == ("stuck",)
    assert "training loss flat (2.503→2.498)" in outcome.reason
    assert "learning_rate 1e-06 too small?" in outcome.reason


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"last_grad_norm": 0.0}, "gradients are zero"),
        ({"kernels": ZERO_KERNELS, "biases": ZERO_BIASES}, "identical units"),
        ({"dead_fraction": 0.9}, "90% of the ReLU units are dead"),
    ],
)
def test_a_falling_loss_with_a_cause_of_not_learning_is_stuck(kw: dict[str, Any], why: str) -> None:
    outcome = run(test_accuracy=0.1135, initial_loss=2.5, epoch_losses=[2.3], **kw)
    assert "stuck" in outcome.labels and "slow" not in outcome.labels
    assert why in outcome.reason


def test_slow_never_applies_to_a_learning_or_diverged_run() -> None:
    assert run(test_accuracy=0.9, initial_loss=2.3, epoch_losses=[0.5]).labels == ("ok",)
    div = Divergence(epoch=1, batch=5, loss=math.nan, grad_norm=math.nan, last_finite_loss=1.0)
    outcome = run(test_accuracy=0.1, divergence=div, initial_loss=2.3, epoch_losses=[2.0])
    assert "slow" not in outcome.labels and "stuck" not in outcome.labels


def test_slow_blames_the_init_when_it_saturates_or_starts_far_too_high() -> None:
    saturated = run(
        test_accuracy=0.1,
        initial_loss=2.5,
        epoch_losses=[2.3],
        saturated_fraction=0.9,
        config=TrainConfig(activation="tanh", weight_init="normal", weight_init_scale=5.0),
    )
    assert saturated.labels == ("slow", "saturated")
    assert saturated.reason.startswith("weight_init normal scale 5 saturates 90% of the tanh")
    too_big = run(
        test_accuracy=0.09,
        initial_loss=115.0,
        max_loss=128.0,
        epoch_losses=[128.0, 38.5],
        config=TrainConfig(activation="elu", weight_init="normal", weight_init_scale=1.67),
    )
    assert too_big.labels == ("slow",)
    assert too_big.reason.startswith("weight_init normal scale 1.67 too large: initial loss 115")


def test_outcome_is_still_a_frozen_dataclass() -> None:
    outcome = run()
    with pytest.raises(dataclasses.FrozenInstanceError):
        outcome.label = "slow"  # type: ignore[misc]
