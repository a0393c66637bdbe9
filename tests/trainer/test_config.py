"""Tests for trainer.config: defaults, every field's rule, error reporting, round trips."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

import pytest
import yaml

from trainer import config as cfg_module
from trainer.config import (
    ACTIVATIONS,
    BIAS_INITS,
    DEFAULTS,
    FIELD_HELP,
    FIELD_NAMES,
    LOSSES,
    OPTIMIZERS,
    OUTPUT_ACTIVATIONS,
    WEIGHT_INITS,
    ConfigError,
    Problem,
    TrainConfig,
    validate_field,
)


def problems_of(params: Any) -> list[str]:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(params)
    return info.value.problems


# --------------------------------------------------------------------------- defaults


def test_defaults_are_valid_and_match_the_dataclass() -> None:
    default = TrainConfig()
    assert TrainConfig.from_dict({}) == default
    assert TrainConfig.from_dict(DEFAULTS) == default
    assert default.to_dict() == DEFAULTS
    for name, value in DEFAULTS.items():
        normalised, error = validate_field(name, value)
        assert error is None, error
        assert normalised == (tuple(value) if name == "hidden_layers" else value)


def test_every_field_is_validated_and_documented() -> None:
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    assert list(FIELD_NAMES) == fields
    assert set(FIELD_HELP) == set(fields)
    assert all(FIELD_HELP[name].strip() for name in fields)


# --------------------------------------------------------------------------- rules

BAD_VALUES: list[tuple[str, Any, str]] = [
    # (field, value, exact message)
    ("learning_rate", -0.1, "learning_rate: must be > 0, got -0.1"),
    ("learning_rate", 0, "learning_rate: must be > 0, got 0"),
    ("learning_rate", 0.0, "learning_rate: must be > 0, got 0"),
    ("learning_rate", True, "learning_rate: must be a finite number, got True"),
    ("learning_rate", "0.1", "learning_rate: must be a finite number, got '0.1'"),
    ("learning_rate", math.nan, "learning_rate: must be a finite number, got nan"),
    ("learning_rate", math.inf, "learning_rate: must be a finite number, got inf"),
    ("learning_rate", None, "learning_rate: must be a finite number, got None"),
    ("momentum", 1.0, "momentum: must be < 1, got 1"),
    ("momentum", -0.5, "momentum: must be >= 0, got -0.5"),
    ("momentum", False, "momentum: must be a finite number, got False"),
    ("weight_init_scale", -1, "weight_init_scale: must be >= 0, got -1"),
    ("weight_init_scale", "big", "weight_init_scale: must be a finite number, got 'big'"),
    ("bias_init_scale", 2e6, "bias_init_scale: must be <= 1e+06, got 2e+06"),
    ("bias_init_scale", -2e6, "bias_init_scale: must be >= -1e+06, got -2e+06"),
    ("validation_split", 0.6, "validation_split: must be <= 0.5, got 0.6"),
    ("validation_split", -0.1, "validation_split: must be >= 0, got -0.1"),
    ("label", 3, "label: must be a string, got 3"),
    ("test", None, "test: must be a string, got None"),
    ("test_split", 0, "test_split: must be > 0, got 0"),
    ("test_split", 0.7, "test_split: must be <= 0.5, got 0.7"),
    ("scale", "zscore", "scale: must be one of none, standard, minmax, got 'zscore'"),
    ("batch_size", 0, "batch_size: must be >= 1, got 0"),
    ("batch_size", -5, "batch_size: must be >= 1, got -5"),
    ("batch_size", True, "batch_size: must be an integer, got True"),
    ("batch_size", 2.5, "batch_size: must be an integer, got 2.5"),
    ("batch_size", "32", "batch_size: must be an integer, got '32'"),
    ("epochs", 0, "epochs: must be >= 1, got 0"),
    ("epochs", 100_001, "epochs: must be <= 100000, got 100001"),
    ("epochs", False, "epochs: must be an integer, got False"),
    ("seed", -1, "seed: must be >= 0, got -1"),
    ("seed", 2**31, "seed: must be <= 2147483647, got 2147483648"),
    ("seed", True, "seed: must be an integer, got True"),
    ("hidden_layers", [16, 0], "hidden_layers: must be a list of positive integers, got [16, 0]"),
    ("hidden_layers", [True], "hidden_layers: must be a list of positive integers, got [True]"),
    ("hidden_layers", [16.5], "hidden_layers: must be a list of positive integers, got [16.5]"),
    ("hidden_layers", "16", "hidden_layers: must be a list of positive integers, got '16'"),
    ("hidden_layers", 16, "hidden_layers: must be a list of positive integers, got 16"),
    (
        "hidden_layers",
        [200_000],
        "hidden_layers: at most 16 layers of at most 100000 units, got [200000]",
    ),
    (
        "activation",
        "rellu",
        "activation: must be one of " + ", ".join(ACTIVATIONS) + ", got 'rellu'"
        " (did you mean 'relu'?)",
    ),
    ("activation", 3, "activation: must be one of " + ", ".join(ACTIVATIONS) + ", got 3"),
    (
        "output_activation",
        "relu",
        "output_activation: must be one of linear, sigmoid, softmax, got 'relu'",
    ),
    (
        "loss",
        "cross_entropy",
        "loss: must be one of mse, quadratic, crossentropy, got 'cross_entropy'"
        " (did you mean 'crossentropy'?)",
    ),
    (
        "optimizer",
        "Adam",
        "optimizer: must be one of sgd, momentum, adam, rmsprop, got 'Adam' (did you mean 'adam'?)",
    ),
    (
        "weight_init",
        "xavier",
        "weight_init: must be one of " + ", ".join(WEIGHT_INITS) + ", got 'xavier'",
    ),
    (
        "bias_init",
        "he_normal",
        "bias_init: must be one of " + ", ".join(BIAS_INITS) + ", got 'he_normal'"
        " (did you mean 'normal'?)",
    ),
    ("dataset", "", "dataset: must be 'mnist-mini', 'mnist' or a file path, got ''"),
    ("dataset", 7, "dataset: must be 'mnist-mini', 'mnist' or a file path, got 7"),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_VALUES)
def test_bad_value_is_reported_as_field_rule_got_value(
    field: str, value: Any, message: str
) -> None:
    normalised, problem = validate_field(field, value)
    assert normalised is None and problem is not None
    assert (problem.field, str(problem)) == (field, message)  # a value: field and rule
    assert problem.rule == message.removeprefix(f"{field}: ")
    assert problems_of({field: value}) == [message]
    with pytest.raises(ConfigError, match="^" + re.escape(message) + "$"):
        TrainConfig().replace(**{field: value})


def test_every_field_has_a_bad_value_case() -> None:
    assert {field for field, _, _ in BAD_VALUES} == set(FIELD_NAMES)


GOOD_VALUES: list[tuple[str, Any, Any]] = [
    # (field, value, normalised value)
    ("hidden_layers", [], ()),
    ("hidden_layers", [784, 30], (784, 30)),
    ("hidden_layers", (16, 16), (16, 16)),
    ("hidden_layers", [1] * 16, (1,) * 16),
    ("batch_size", 64.0, 64),  # whole floats (YAML 64.0, JSON) are accepted as ints
    ("batch_size", 1, 1),
    ("epochs", 100_000, 100_000),
    ("seed", 0, 0),
    ("seed", 2**31 - 1, 2**31 - 1),
    ("learning_rate", 3, 3.0),
    ("learning_rate", 1e-12, 1e-12),
    ("momentum", 0, 0.0),
    ("momentum", 0.99, 0.99),
    ("weight_init_scale", 0, 0.0),
    ("bias_init_scale", -1.5, -1.5),
    ("validation_split", 0, 0.0),
    ("validation_split", 0.5, 0.5),
    ("dataset", "mnist", "mnist"),
    ("dataset", "../shared/data/mnist.pkl.gz", "../shared/data/mnist.pkl.gz"),
]


@pytest.mark.parametrize(("field", "value", "expected"), GOOD_VALUES)
def test_good_value_is_accepted_and_normalised(field: str, value: Any, expected: Any) -> None:
    normalised, error = validate_field(field, value)
    assert error is None
    assert normalised == expected
    assert type(normalised) is type(expected)
    assert getattr(TrainConfig.from_dict({field: value}), field) == expected


@pytest.mark.parametrize(
    ("field", "choices"),
    [
        ("activation", ACTIVATIONS),
        ("output_activation", OUTPUT_ACTIVATIONS),
        ("weight_init", WEIGHT_INITS),
        ("bias_init", BIAS_INITS),
        ("loss", LOSSES),
        ("optimizer", OPTIMIZERS),
    ],
)
def test_every_listed_choice_is_accepted(field: str, choices: tuple[str, ...]) -> None:
    for choice in choices:
        assert validate_field(field, choice) == (choice, None)


def test_ints_are_never_bools_and_bools_never_numbers() -> None:
    for field in ("batch_size", "epochs", "seed"):
        assert str(validate_field(field, True)[1]) == f"{field}: must be an integer, got True"
    for field in ("learning_rate", "momentum", "weight_init_scale", "bias_init_scale"):
        problem = validate_field(field, False)[1]
        assert str(problem) == f"{field}: must be a finite number, got False"


# --------------------------------------------------------------------------- reporting


def test_unknown_key_suggests_the_closest_field() -> None:
    assert problems_of({"learnig_rate": 0.1}) == [
        "learnig_rate: unknown parameter; did you mean 'learning_rate'?"
    ]
    assert problems_of({"batchsize": 8}) == [
        "batchsize: unknown parameter; did you mean 'batch_size'?"
    ]
    assert problems_of({"xyz": 1}) == ["xyz: unknown parameter"]
    assert validate_field("lr", 0.1) == (None, Problem("lr", "unknown parameter"))


def test_several_problems_are_reported_together() -> None:
    params = {
        "learning_rate": -0.1,
        "batch_size": 0,
        "activaton": "relu",
        "loss": "mae",
        "epochs": 10,  # valid: must not be reported
    }
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict(params)
    problems = info.value.problems
    assert problems == [
        "activaton: unknown parameter; did you mean 'activation'?",
        "loss: must be one of mse, quadratic, crossentropy, got 'mae' (did you mean 'mse'?)",
        "learning_rate: must be > 0, got -0.1",
        "batch_size: must be >= 1, got 0",
    ]
    assert str(info.value) == "; ".join(problems)
    assert isinstance(info.value, ValueError)


def test_non_mapping_params_are_rejected() -> None:
    assert problems_of([("epochs", 3)]) == ["params: must be a mapping, got list"]
    assert problems_of(None) == ["params: must be a mapping, got NoneType"]


def test_config_error_copies_its_problem_list() -> None:
    problems = [Problem("a", "rule, got 1")]
    error = ConfigError(problems)
    problems.append(Problem("b", "rule, got 2"))
    assert error.problems == ["a: rule, got 1"]
    assert str(error) == "a: rule, got 1"


# --------------------------------------------------------------------------- round trips


def full_config() -> TrainConfig:
    return TrainConfig.from_dict(
        {
            "hidden_layers": [64, 32],
            "activation": "relu",
            "output_activation": "sigmoid",
            "weight_init": "he_normal",
            "weight_init_scale": 2.0,
            "bias_init": "constant",
            "bias_init_scale": -0.25,
            "loss": "mse",
            "optimizer": "momentum",
            "learning_rate": 0.05,
            "momentum": 0.8,
            "batch_size": 10,
            "epochs": 30,
            "seed": 7,
            "dataset": "mnist",
            "validation_split": 1 / 6,
        }
    )


def test_to_dict_from_dict_round_trip() -> None:
    config = full_config()
    plain = config.to_dict()
    assert plain["hidden_layers"] == [64, 32]
    assert set(plain) == set(FIELD_NAMES)
    assert TrainConfig.from_dict(plain) == config
    assert TrainConfig.from_dict(json.loads(json.dumps(plain))) == config
    assert TrainConfig.from_dict(yaml.safe_load(yaml.safe_dump(plain))) == config
    assert TrainConfig.from_dict(TrainConfig().to_dict()) == TrainConfig()


def test_config_is_frozen_and_hashable() -> None:
    config = full_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.learning_rate = 1.0  # type: ignore[misc]
    assert isinstance(config.hidden_layers, tuple)
    assert hash(config) == hash(full_config())
    assert {config, full_config()} == {config}


def test_replace_returns_a_validated_copy() -> None:
    config = full_config()
    faster = config.replace(learning_rate=0.5, hidden_layers=[10])
    assert faster.learning_rate == 0.5
    assert faster.hidden_layers == (10,)
    assert config.learning_rate == 0.05  # the original is untouched
    assert faster.replace(learning_rate=0.05, hidden_layers=[64, 32]) == config
    with pytest.raises(ConfigError) as info:
        config.replace(learning_rate=-0.1, epochs=0)
    assert info.value.problems == [
        "learning_rate: must be > 0, got -0.1",
        "epochs: must be >= 1, got 0",
    ]


def test_architecture_label() -> None:
    assert TrainConfig(hidden_layers=(16, 16)).architecture == "16-16"
    assert TrainConfig(hidden_layers=(30,)).architecture == "30"
    assert TrainConfig(hidden_layers=()).architecture == "(none)"


def test_module_exports() -> None:
    for name in cfg_module.__all__:
        assert hasattr(cfg_module, name), name
