"""The parameter dict, validated once into a frozen :class:`TrainConfig`.

A plain dict (from YAML, JSON, an Optuna trial or an exported best config) comes in
here exactly once; every problem in it is collected and reported together, each as
``field: rule, got value``. Everything past this module works with typed objects.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu", "elu", "gelu", "softplus", "selu")
OUTPUT_ACTIVATIONS = ("linear", "sigmoid", "softmax")
SCALES = ("none", "standard", "minmax")
WEIGHT_INITS = (
    "normal",
    "truncated_normal",
    "uniform",
    "zeros",
    "ones",
    "constant",
    "glorot_uniform",
    "glorot_normal",
    "he_normal",
    "he_uniform",
    "lecun_normal",
)
BIAS_INITS = ("zeros", "ones", "constant", "normal", "truncated_normal", "uniform")
LOSSES = ("mse", "quadratic", "crossentropy")
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")

SHAPE_FIELDS = (
    "hidden_layers",
    "batch_size",
    "dataset",
    "validation_split",
    "label",
    "test",
    "test_split",
    "scale",
)
"""Fields every member of a population shares: they fix the tensor shapes and the number
of steps per epoch (each member draws its own batch order from its own seed)."""


@dataclass(frozen=True)
class Problem:
    """One broken rule: the ``field`` it concerns and the ``rule`` with the value seen
    (``must be > 0, got -0.1``). The contract between the validators and whoever words
    the error for a user (a search space names its own path in front of ``rule``)."""

    field: str
    rule: str

    def __str__(self) -> str:
        return f"{self.field}: {self.rule}"


class ConfigError(ValueError):
    """A parameter dict broke one or more rules; ``details`` lists each one, ``problems``
    the same as ``field: rule`` lines."""

    def __init__(self, details: Sequence[Problem]) -> None:
        self.details = tuple(details)
        self.problems = [str(p) for p in self.details]
        super().__init__("; ".join(self.problems))


Check = tuple[Any, Problem | None]
"""A validator's answer: the normalised value, or ``None`` and the broken rule."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything needed to build and train one MLP; see README "Parameters"."""

    hidden_layers: tuple[int, ...] = (30,)
    activation: str = "sigmoid"
    output_activation: str = "softmax"
    weight_init: str = "glorot_uniform"
    weight_init_scale: float = 1.0
    bias_init: str = "zeros"
    bias_init_scale: float = 1.0
    loss: str = "crossentropy"
    optimizer: str = "adam"
    learning_rate: float = 0.001
    momentum: float = 0.9
    batch_size: int = 32
    epochs: int = 5
    seed: int = 0
    dataset: str = "mnist-mini"
    validation_split: float = 0.1
    label: str = ""
    test: str = ""
    test_split: float = 0.2
    scale: str = "none"

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> TrainConfig:
        """Validate ``params`` (missing keys take defaults) or raise :class:`ConfigError`."""
        if not isinstance(params, Mapping):
            kind = type(params).__name__
            raise ConfigError([Problem("params", f"must be a mapping, got {kind}")])
        problems: list[Problem] = []
        known = [f.name for f in dataclasses.fields(cls)]
        for key in params:
            if key not in known:
                problems.append(_unknown_key(str(key), known))
        values: dict[str, Any] = {}
        for name in known:
            if name not in params:
                continue
            value, error = validate_field(name, params[name])
            if error:
                problems.append(error)
            else:
                values[name] = value
        if problems:
            raise ConfigError(problems)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-friendly dict that :meth:`from_dict` turns back into ``self``."""
        out = dataclasses.asdict(self)
        out["hidden_layers"] = list(self.hidden_layers)
        return out

    def replace(self, **changes: Any) -> TrainConfig:
        """A validated copy with some fields changed."""
        merged = self.to_dict()
        merged.update(changes)
        return TrainConfig.from_dict(merged)

    @property
    def architecture(self) -> str:
        """Human label such as ``784-30-10`` without the input/output sizes known: ``30``."""
        return "-".join(str(h) for h in self.hidden_layers) or "(none)"


def _unknown_key(key: str, known: list[str]) -> Problem:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return Problem(key, f"unknown parameter{hint}")


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float)) and not isinstance(value, bool)


def _choice(choices: tuple[str, ...]) -> Callable[[str, Any], Check]:
    def check(name: str, value: Any) -> Check:
        if not isinstance(value, str):
            return None, Problem(name, f"must be one of {', '.join(choices)}, got {_fmt(value)}")
        if value not in choices:
            close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            rule = f"must be one of {', '.join(choices)}, got {_fmt(value)}{hint}"
            return None, Problem(name, rule)
        return value, None

    return check


def _int_range(low: int, high: int | None = None) -> Callable[[str, Any], Check]:
    def check(name: str, value: Any) -> Check:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not _is_int(value):
            return None, Problem(name, f"must be an integer, got {_fmt(value)}")
        if value < low:
            return None, Problem(name, f"must be >= {low}, got {value}")
        if high is not None and value > high:
            return None, Problem(name, f"must be <= {high}, got {value}")
        return value, None

    return check


def _float_range(
    *,
    low: float,
    low_inclusive: bool,
    high: float | None = None,
    high_inclusive: bool = True,
) -> Callable[[str, Any], Check]:
    def check(name: str, value: Any) -> Check:
        if not _is_number(value) or not math.isfinite(value):
            return None, Problem(name, f"must be a finite number, got {_fmt(value)}")
        value = float(value)
        if value < low or (value == low and not low_inclusive):
            op = ">=" if low_inclusive else ">"
            return None, Problem(name, f"must be {op} {low:g}, got {value:g}")
        if high is not None and (value > high or (value == high and not high_inclusive)):
            op = "<=" if high_inclusive else "<"
            return None, Problem(name, f"must be {op} {high:g}, got {value:g}")
        return value, None

    return check


def _hidden_layers(name: str, value: Any) -> Check:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        return None, Problem(name, f"must be a list of positive integers, got {_fmt(value)}")
    if not all(_is_int(v) and v >= 1 for v in value):
        return None, Problem(name, f"must be a list of positive integers, got {list(value)}")
    if len(value) > 16 or any(v > 100_000 for v in value):
        return None, Problem(name, f"at most 16 layers of at most 100000 units, got {list(value)}")
    return tuple(value), None


def _text(name: str, value: Any) -> Check:
    if not isinstance(value, str):
        return None, Problem(name, f"must be a string, got {_fmt(value)}")
    return value.strip(), None


def _dataset(name: str, value: Any) -> Check:
    if not isinstance(value, str) or not value.strip():
        rule = f"must be 'mnist-mini', 'mnist' or a file path, got {_fmt(value)}"
        return None, Problem(name, rule)
    return value, None


_VALIDATORS: dict[str, Callable[[str, Any], Check]] = {
    "hidden_layers": _hidden_layers,
    "activation": _choice(ACTIVATIONS),
    "output_activation": _choice(OUTPUT_ACTIVATIONS),
    "weight_init": _choice(WEIGHT_INITS),
    "weight_init_scale": _float_range(low=0.0, low_inclusive=True),
    "bias_init": _choice(BIAS_INITS),
    "bias_init_scale": _float_range(low=-1e6, low_inclusive=True, high=1e6),
    "loss": _choice(LOSSES),
    "optimizer": _choice(OPTIMIZERS),
    "learning_rate": _float_range(low=0.0, low_inclusive=False),
    "momentum": _float_range(low=0.0, low_inclusive=True, high=1.0, high_inclusive=False),
    "batch_size": _int_range(1),
    "epochs": _int_range(1, 100_000),
    "seed": _int_range(0, 2**31 - 1),
    "dataset": _dataset,
    "validation_split": _float_range(low=0.0, low_inclusive=True, high=0.5),
    "label": _text,
    "test": _text,
    "test_split": _float_range(low=0.0, low_inclusive=False, high=0.5),
    "scale": _choice(SCALES),
}

FIELD_NAMES: tuple[str, ...] = tuple(_VALIDATORS)
DEFAULTS: dict[str, Any] = TrainConfig().to_dict()

# Documentation of every parameter, used by the README table and ``sweeps params``.
FIELD_HELP: dict[str, str] = {
    "hidden_layers": "hidden layer sizes, e.g. [30] or [16, 16]; [] = no hidden layer",
    "activation": "hidden activation: " + ", ".join(ACTIVATIONS),
    "output_activation": "output activation: " + ", ".join(OUTPUT_ACTIVATIONS),
    "weight_init": "weight initializer: " + ", ".join(WEIGHT_INITS),
    "weight_init_scale": (
        "stddev (normal, truncated_normal), limit (uniform), value (constant) or "
        "variance multiplier (glorot/he/lecun); >= 0"
    ),
    "bias_init": "bias initializer: " + ", ".join(BIAS_INITS),
    "bias_init_scale": "stddev, limit or constant value for bias_init",
    "loss": "mse (mean over outputs), quadratic (0.5*sum over outputs), crossentropy",
    "optimizer": "sgd, momentum (SGD with `momentum`), adam, rmsprop",
    "learning_rate": "step size; > 0",
    "momentum": "momentum coefficient for optimizer=momentum; in [0, 1)",
    "batch_size": "examples per gradient step; >= 1 and <= training examples",
    "epochs": "passes over the training data; >= 1",
    "seed": "seeds initialisation and shuffling; >= 0",
    "dataset": "mnist-mini (embedded 10k/2k), mnist (full), or a path (.npz, .pkl.gz, IDX dir)",
    "validation_split": "fraction of the training pool held out (taken from its end); [0, 0.5]",
    "label": "a table's label column ('' = the column named 'label'; .npy: the last column)",
    "test": "a table's own test file, same columns ('' = hold out test_split instead)",
    "test_split": "a table without `test`: fraction held out as its test set, stratified; (0, 0.5]",
    "scale": "features scaled with training-split statistics: none, standard, minmax",
}


def validate_field(name: str, value: Any) -> Check:
    """Check one field: ``(normalised_value, None)`` or ``(None, Problem(field, rule))``."""
    validator = _VALIDATORS.get(name)
    if validator is None:
        return None, _unknown_key(name, list(_VALIDATORS))
    return validator(name, value)


__all__ = [
    "ACTIVATIONS",
    "BIAS_INITS",
    "DEFAULTS",
    "FIELD_HELP",
    "FIELD_NAMES",
    "LOSSES",
    "OPTIMIZERS",
    "OUTPUT_ACTIVATIONS",
    "SCALES",
    "WEIGHT_INITS",
    "Check",
    "ConfigError",
    "Problem",
    "TrainConfig",
    "validate_field",
]
