"""What the doctor tries: the one-factor-at-a-time changes around a config, each a label
and the parameters it overrides. The hidden activation, the output activation (for
``mse``/``quadratic``, or ``crossentropy`` on a linear output), the initializer, the init
scale, the learning rate (/10, /100, /1000, x10), the loss (``crossentropy`` with softmax)
and the optimizer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trainer.config import TrainConfig

FACTORS = (
    "activation",
    "output",
    "initializer",
    "init_scale",
    "learning_rate",
    "loss",
    "optimizer",
)


@dataclass(frozen=True)
class Change:
    """One factor changed: a label like ``activation: linear -> sigmoid`` and the overrides."""

    factor: str
    label: str
    params: dict[str, Any]


def candidate_changes(config: TrainConfig) -> list[Change]:
    """The one-factor-at-a-time changes tried around ``config`` (see the module doc)."""
    changes: list[Change] = []

    def add(factor: str, label: str, **params: Any) -> None:
        merged = {**config.to_dict(), **params}
        if TrainConfig.from_dict(merged) == config:
            return
        if any(c.params == params for c in changes):
            return
        changes.append(Change(factor, label, params))

    for act in ("sigmoid", "tanh", "relu"):
        if act != config.activation:
            add("activation", f"activation: {config.activation} -> {act}", activation=act)
    out = config.output_activation
    if config.loss in ("mse", "quadratic"):
        for new in ("sigmoid", "softmax"):
            if new != out:
                add("output", f"output: {out} -> {new}", output_activation=new)
    elif out == "linear":
        add("output", f"output: {out} -> softmax", output_activation="softmax")
    init = config.weight_init
    init_name = init if init in ("zeros", "ones") else f"{init}({config.weight_init_scale:g})"
    for new in ("glorot_uniform", "he_normal"):
        if new != init or config.weight_init_scale != 1.0:
            add(
                "initializer",
                f"init: {init_name} -> {new}",
                weight_init=new,
                weight_init_scale=1.0,
            )
    if init not in ("zeros", "ones", "constant") and config.weight_init_scale > 0:
        new_scale = float(f"{config.weight_init_scale * 0.1:.6g}")
        scaled: dict[str, Any] = {"weight_init_scale": new_scale}
        label = f"init scale: {config.weight_init_scale:g} -> {new_scale:g}"
        if config.bias_init in ("normal", "truncated_normal", "uniform"):
            scaled["bias_init_scale"] = float(f"{config.bias_init_scale * 0.1:.6g}")
            label += " (weights and biases)"
        add("init_scale", label, **scaled)
    lr = config.learning_rate
    for factor in (0.1, 0.01, 0.001, 10.0):
        new_lr = float(f"{lr * factor:.6g}")
        if new_lr > 10.0 or new_lr < 1e-5:
            continue
        add("learning_rate", f"learning_rate: {lr:g} -> {new_lr:g}", learning_rate=new_lr)
    if config.loss != "crossentropy":
        add(
            "loss",
            f"loss: {config.loss} -> crossentropy+softmax",
            loss="crossentropy",
            output_activation="softmax",
        )
    if config.optimizer != "adam":
        add(
            "optimizer",
            f"optimizer: {config.optimizer} -> adam (lr 0.001)",
            optimizer="adam",
            learning_rate=0.001,
        )
    else:
        add(
            "optimizer",
            "optimizer: adam -> momentum (lr 0.01)",
            optimizer="momentum",
            learning_rate=0.01,
        )
    return changes
