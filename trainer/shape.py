"""Which configs may share a population, and whether a config fits its data.

Members of one population share the tensor shapes and the steps per epoch
(:data:`trainer.config.SHAPE_FIELDS`) and may differ in everything else
(:data:`MEMBER_FIELDS`). A batch no larger than the training set is the one rule that
needs the data; it is worded here once for a config, a search space and the data checks
of ``sweeps``.
"""

from __future__ import annotations

from typing import Any

from trainer.config import SHAPE_FIELDS, ConfigError, Problem, TrainConfig
from trainer.data import Dataset, train_size

__all__ = ["MEMBER_FIELDS", "batch_rule", "check_batch_fits", "shape_key", "shape_mismatch"]


MEMBER_FIELDS = (
    "learning_rate",
    "weight_init",
    "weight_init_scale",
    "bias_init",
    "bias_init_scale",
    "activation",
    "output_activation",
    "loss",
    "optimizer",
    "momentum",
    "seed",
    "epochs",
)
"""Fields the members of one population may differ in."""


def shape_key(config: TrainConfig) -> tuple[Any, ...]:
    """What the members of one population must have in common (:data:`SHAPE_FIELDS`)."""
    return tuple(getattr(config, name) for name in SHAPE_FIELDS)


def shape_mismatch(config: TrainConfig, shape: tuple[Any, ...], whose: str) -> str | None:
    """Why ``config`` cannot join a population of ``shape`` (``None`` when it can):
    each differing field with ``whose`` value it differs from."""
    diff = ", ".join(
        f"{name}={b!r} ({whose} {a!r})"
        for name, a, b in zip(SHAPE_FIELDS, shape, shape_key(config), strict=True)
        if a != b
    )
    if not diff:
        return None
    return f"{diff}; members may differ only in {', '.join(MEMBER_FIELDS)}"


def batch_rule(batch_size: int, train_examples: int, where: str = "") -> str | None:
    """The rule "a batch is no larger than the training set", worded when broken (the
    one wording for a config, a search space and the data checks of ``sweeps``);
    ``where`` says which data, e.g. `` (dataset 'mnist', validation_split 0.1)``."""
    if batch_size > train_examples:
        return f"must be <= {train_examples} training examples{where}, got {batch_size}"
    return None


def check_batch_fits(config: TrainConfig, data: Dataset) -> int:
    """The number of training examples ``config`` leaves in ``data``; a batch larger
    than that is a :class:`ConfigError` on ``batch_size``."""
    examples = train_size(data, config.validation_split)
    broken = batch_rule(config.batch_size, examples)
    if broken:
        raise ConfigError([Problem("batch_size", broken)])
    return examples
