"""Pre-flight checks: what is wrong with a config before its first training step.

Three kinds of check, each returning typed :class:`PreflightWarning` objects (a stable
``code``, a one-line ``message`` and the ``numbers`` behind it), never printing:

* **pairings known to train badly** (:func:`check_config`, no TensorFlow needed):
  ``crossentropy_linear_output`` (cross-entropy on raw outputs, without softmax/sigmoid),
  ``mse_linear_output_large_lr`` (``mse``/``quadratic`` on a linear output with a large
  learning rate: the curvature grows with the squared input norm, ~100 on MNIST),
  ``linear_hidden`` (linear hidden units: the whole net is one linear map);
* **symmetric initialisation** (``symmetric_init``): a zero or constant weight init with
  more than one unit in a hidden layer: every unit of the layer computes the same thing
  and gets the same gradient, forever;
* **the initial loss** (``initial_loss``, :func:`check_initial_loss`): the loss of the
  untrained net on the probe batch against what the config implies, i.e. the loss of a
  net whose logits are all zero (:func:`expected_initial_loss`: ln 10 ~ 2.30 for
  cross-entropy with softmax on 10 classes, ln 2 with sigmoid, 0.1 for ``mse`` on a
  linear output, 0.09 on a softmax one, ...). Far above it means outputs far from
  neutral at the start: an init scale too large for the loss.

:func:`trainer.training.train` runs them all before its first step (``on_preflight``
callback, ``TrainResult.warnings``); ``sweeps train`` prints them and ``sweeps run``
stores them on the trial and its MLflow run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from trainer.config import TrainConfig

INITIAL_LOSS_FACTOR = 3.0
"""``initial_loss`` warns when the untrained loss exceeds this multiple of the expected one."""

INITIAL_LOSS_SLACK = 0.5
"""... and exceeds it by more than this (absolute), so tiny expected losses do not warn."""

LARGE_LR = {"sgd": 0.5, "momentum": 0.1, "adam": 0.1, "rmsprop": 0.1}
"""Learning rates from which ``mse``/``quadratic`` on a linear output is flagged."""

SYMMETRIC_INITS = ("zeros", "ones", "constant")


@dataclass(frozen=True)
class PreflightWarning:
    """One problem found before training: a stable code, a message, the numbers."""

    code: str
    message: str
    numbers: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "numbers": dict(self.numbers)}

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def expected_initial_loss(config: TrainConfig, num_classes: int = 10) -> float:
    """The loss of a net whose logits are all zero, for ``config``'s loss and output.

    That is the loss of an untrained net that commits to nothing; a sensible init starts
    near it whatever the label distribution.
    """
    k = max(num_classes, 1)
    out = config.output_activation
    if config.loss == "crossentropy":
        return math.log(2.0) if out == "sigmoid" else math.log(k)
    # outputs at zero logits: softmax 1/k each, sigmoid 1/2, linear 0
    if out == "softmax":
        squared = (1 - 1 / k) ** 2 + (k - 1) / k**2
    elif out == "sigmoid":
        squared = 0.25 * k
    else:
        squared = 1.0
    return squared / k if config.loss == "mse" else 0.5 * squared


def check_config(config: TrainConfig, num_classes: int = 10) -> list[PreflightWarning]:
    """The checks that need only the config (bad pairings, symmetric init)."""
    out: list[PreflightWarning] = []
    lr = config.learning_rate
    if config.loss == "crossentropy" and config.output_activation == "linear":
        out.append(
            PreflightWarning(
                "crossentropy_linear_output",
                "crossentropy on a linear output (no softmax/sigmoid): the outputs are not "
                "probabilities, so the loss is ill-defined and training stalls or blows up; "
                "use output_activation: softmax",
            )
        )
    limit = LARGE_LR.get(config.optimizer, 0.1)
    if config.loss in ("mse", "quadratic") and config.output_activation == "linear" and lr >= limit:
        out.append(
            PreflightWarning(
                "mse_linear_output_large_lr",
                f"{config.loss} on a linear output with {config.optimizer} learning_rate "
                f"{lr:g} (>= {limit:g}): unbounded outputs and a curvature that grows with "
                "the input norm make large steps diverge; lower the learning rate or use a "
                "sigmoid/softmax output",
                {"learning_rate": lr, "limit": limit},
            )
        )
    if config.activation == "linear" and config.hidden_layers:
        out.append(
            PreflightWarning(
                "linear_hidden",
                "linear hidden units: the whole network is a single linear map whatever its "
                "depth; use a nonlinear activation (sigmoid, tanh, relu)",
                {"hidden_layers": float(len(config.hidden_layers))},
            )
        )
    wide = max(config.hidden_layers, default=0)
    constant = config.weight_init in SYMMETRIC_INITS or (
        config.weight_init_scale == 0.0 and config.weight_init not in ("ones", "constant")
    )
    if constant and wide > 1:
        value = (
            1.0
            if config.weight_init == "ones"
            else config.weight_init_scale
            if config.weight_init == "constant"
            else 0.0
        )
        bias_random = config.bias_init in ("normal", "truncated_normal", "uniform") and (
            config.bias_init_scale != 0.0
        )
        note = (
            " (random biases break the tie only weakly)"
            if bias_random
            else "; they get the same gradient and stay identical"
        )
        out.append(
            PreflightWarning(
                "symmetric_init",
                f"weight_init {config.weight_init} (value {value:g}) with {wide} units in a "
                f"hidden layer: all units of a layer start identical{note}; use a random "
                "initializer (glorot_uniform, he_normal)",
                {"init_value": value, "units": float(wide)},
            )
        )
    return out


def check_initial_loss(
    config: TrainConfig, initial_loss: float, num_classes: int = 10
) -> PreflightWarning | None:
    """Warn when the untrained net's loss is far above :func:`expected_initial_loss`."""
    expected = expected_initial_loss(config, num_classes)
    numbers = {"initial_loss": initial_loss, "expected": expected}
    if not math.isfinite(initial_loss):
        return PreflightWarning(
            "initial_loss",
            f"initial loss is {initial_loss} before any step (expected about {expected:.4g})",
            numbers,
        )
    ratio = initial_loss / expected if expected > 0 else math.inf
    numbers["ratio"] = ratio
    if ratio > INITIAL_LOSS_FACTOR and initial_loss - expected > INITIAL_LOSS_SLACK:
        return PreflightWarning(
            "initial_loss",
            f"initial loss {initial_loss:.4g} is {ratio:.3g}x what the config implies "
            f"({expected:.4g} for {config.loss} with a {config.output_activation} output at "
            f"zero logits): the init scale is too large for this loss",
            numbers,
        )
    return None


def run_checks(
    config: TrainConfig, num_classes: int = 10, *, initial_loss: float | None = None
) -> tuple[PreflightWarning, ...]:
    """All checks; the initial-loss one only when ``initial_loss`` is given."""
    found = check_config(config, num_classes)
    if initial_loss is not None:
        loss_warning = check_initial_loss(config, initial_loss, num_classes)
        if loss_warning is not None:
            found.append(loss_warning)
    return tuple(found)


__all__ = [
    "INITIAL_LOSS_FACTOR",
    "PreflightWarning",
    "check_config",
    "check_initial_loss",
    "expected_initial_loss",
    "run_checks",
]
