"""Pre-flight checks: bad pairings, symmetric init, and the initial loss vs the config."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tests._cases import DIVERGING_NET
from trainer.config import LOSSES, OUTPUT_ACTIVATIONS, TrainConfig
from trainer.data import Dataset
from trainer.preflight import (
    INITIAL_LOSS_FACTOR,
    PreflightWarning,
    check_config,
    check_initial_loss,
    expected_initial_loss,
    run_checks,
)
from trainer.training import preflight


def cfg(**params: Any) -> TrainConfig:
    return TrainConfig.from_dict(params)


def codes(warnings: Any) -> list[str]:
    return [w.code for w in warnings]


# --------------------------------------------------------------------------- expected loss


def test_expected_initial_loss_values() -> None:
    assert expected_initial_loss(cfg()) == pytest.approx(math.log(10))  # ~2.3026
    assert expected_initial_loss(cfg(output_activation="sigmoid")) == pytest.approx(math.log(2))
    assert expected_initial_loss(cfg(loss="mse", output_activation="linear")) == pytest.approx(0.1)
    assert expected_initial_loss(cfg(loss="mse")) == pytest.approx(0.09)  # softmax: 9/100
    assert expected_initial_loss(cfg(loss="quadratic", output_activation="sigmoid")) == (
        pytest.approx(1.25)
    )
    assert expected_initial_loss(cfg(loss="quadratic", output_activation="linear")) == (
        pytest.approx(0.5)
    )
    assert expected_initial_loss(cfg(), num_classes=2) == pytest.approx(math.log(2))


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("output", OUTPUT_ACTIVATIONS)
def test_expected_initial_loss_is_the_loss_at_zero_logits(loss: str, output: str) -> None:
    """The closed forms agree with the trainer's own loss on all-zero logits."""
    if loss == "crossentropy" and output == "linear":
        pytest.skip("ill-defined on zero outputs (0/0); flagged as a bad pairing instead")
    from trainer._tf import tf_keras
    from trainer.losses import per_example_loss

    tf, _ = tf_keras()
    labels = tf.one_hot([0, 3, 7, 9], 10)
    actual = float(tf.reduce_mean(per_example_loss(loss, output, tf.zeros((4, 10)), labels)))
    expected = expected_initial_loss(cfg(loss=loss, output_activation=output))
    assert actual == pytest.approx(expected, rel=1e-5)


# --------------------------------------------------------------------------- static checks


def test_default_config_has_no_warning() -> None:
    assert check_config(cfg()) == []
    assert check_config(cfg(activation="relu", weight_init="he_normal")) == []


def test_crossentropy_without_softmax_or_sigmoid() -> None:
    assert codes(check_config(cfg(output_activation="linear"))) == ["crossentropy_linear_output"]
    assert check_config(cfg(output_activation="sigmoid")) == []


def test_mse_on_linear_output_with_large_learning_rate() -> None:
    warnings = check_config(cfg(**DIVERGING_NET))
    assert "mse_linear_output_large_lr" in codes(warnings)
    bad = next(w for w in warnings if w.code == "mse_linear_output_large_lr")
    assert bad.numbers["learning_rate"] == 3.0
    assert "learning_rate 3" in bad.message
    assert "linear_hidden" in codes(warnings)
    # a small step, or a bounded output, is fine
    small = {**DIVERGING_NET, "learning_rate": 0.01, "activation": "sigmoid"}
    assert check_config(cfg(**small)) == []
    assert "mse_linear_output_large_lr" not in codes(
        check_config(cfg(**{**DIVERGING_NET, "output_activation": "sigmoid"}))
    )
    assert "mse_linear_output_large_lr" in codes(
        check_config(
            cfg(**{**DIVERGING_NET, "loss": "quadratic", "optimizer": "adam", "learning_rate": 0.5})
        )
    )


@pytest.mark.parametrize(
    "init",
    [
        {"weight_init": "zeros"},
        {"weight_init": "ones"},
        {"weight_init": "constant", "weight_init_scale": 0.5},
        {"weight_init": "normal", "weight_init_scale": 0.0},
    ],
)
def test_zero_or_constant_init_with_several_units(init: dict[str, Any]) -> None:
    warnings = check_config(cfg(hidden_layers=[16, 16], activation="relu", **init))
    assert codes(warnings) == ["symmetric_init"]
    assert warnings[0].numbers["units"] == 16
    assert "identical" in warnings[0].message


def test_constant_init_with_one_unit_is_not_symmetric() -> None:
    assert check_config(cfg(hidden_layers=[1], weight_init="zeros")) == []


def test_warning_objects_are_typed_and_serialisable() -> None:
    w = check_config(cfg(output_activation="linear"))[0]
    assert isinstance(w, PreflightWarning)
    assert w.to_dict() == {"code": w.code, "message": w.message, "numbers": {}}
    assert str(w).startswith("crossentropy_linear_output: ")


# --------------------------------------------------------------------------- initial loss


def test_initial_loss_check_thresholds() -> None:
    c = cfg()
    assert check_initial_loss(c, 2.4) is None
    assert check_initial_loss(c, 2.3 * INITIAL_LOSS_FACTOR * 0.99) is None
    high = check_initial_loss(c, 40.0)
    assert high is not None and high.code == "initial_loss"
    assert high.numbers["expected"] == pytest.approx(math.log(10))
    assert high.numbers["ratio"] == pytest.approx(40 / math.log(10))
    nan = check_initial_loss(c, float("nan"))
    assert nan is not None and "nan" in nan.message
    # a tiny expected loss does not warn on a tiny absolute excess
    assert check_initial_loss(cfg(loss="mse", output_activation="linear"), 0.45) is None


def test_run_checks_adds_the_initial_loss_only_when_given() -> None:
    assert codes(run_checks(cfg(), initial_loss=50.0)) == ["initial_loss"]
    assert run_checks(cfg()) == ()


def test_preflight_measures_the_untrained_loss(mini: Dataset) -> None:
    assert preflight(cfg(), dataset=mini) == ()  # glorot + softmax: starts near ln 10
    warnings = preflight(cfg(**DIVERGING_NET), dataset=mini)
    assert codes(warnings) == ["mse_linear_output_large_lr", "linear_hidden", "initial_loss"]
    loss = warnings[-1]
    assert loss.numbers["expected"] == pytest.approx(0.1)
    assert loss.numbers["initial_loss"] > 100  # N(0,1) weights: outputs in the tens


def test_train_reports_warnings_before_the_first_step(mini: Dataset) -> None:
    from trainer.training import train

    events: list[str] = []
    seen: list[Any] = []

    def on_preflight(warnings: Any) -> None:
        events.append("preflight")
        seen.append(warnings)

    def on_epoch(record: Any) -> bool:
        events.append(f"epoch {record.epoch}")
        return False

    config = cfg(hidden_layers=[8, 8], activation="relu", weight_init="zeros", epochs=1)
    result = train(config, dataset=mini, on_preflight=on_preflight, on_epoch_end=on_epoch)
    assert events == ["preflight", "epoch 1"]
    assert seen == [result.warnings]
    assert codes(result.warnings) == ["symmetric_init"]
    assert result.initial_loss == pytest.approx(math.log(10), abs=1e-4)  # zero logits
