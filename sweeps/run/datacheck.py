"""Checks that need the data, done once before any trial or run is created.

A search space can be valid on its own and still be unusable: its dataset file is
missing or corrupt, or its batch size is larger than the training set. Without these
checks every trial would fail the same way (and leave a failed trial and a failed
MLflow run behind); with them, the user gets one line and exit code 2, and nothing in
the store changes.
"""

from __future__ import annotations

from typing import Any

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweeps.errors import UserError
from sweeps.space import SearchSpace
from trainer.config import DEFAULTS, ConfigError, TrainConfig


def train_size(dataset: Any, validation_split: float) -> int:
    """Examples left for training once the validation split is carved off."""
    from trainer.data import train_validation_split

    return len(train_validation_split(dataset, validation_split)[0])


def check_batch_size(config: TrainConfig, dataset: Any) -> None:
    """The trainer's own rule, checked before an MLflow run is created for ``config``."""
    n = train_size(dataset, config.validation_split)
    if config.batch_size > n:
        raise ConfigError(
            [f"batch_size: must be <= {n} training examples, got {config.batch_size}"]
        )


def check_space_data(space: SearchSpace) -> None:
    """Load every dataset the space can pick and check the largest batch size fits the
    smallest training set; raises ``DataError`` or :class:`UserError` (one line)."""
    from trainer.data import load_dataset

    datasets = [str(v) for v in _candidates(space, "dataset")]
    splits = [float(v) for v in _candidates(space, "validation_split")]
    batch, where = _largest_batch(space)
    where_src = f"search space '{space.source}': " if space.source else ""
    for name in dict.fromkeys(datasets):
        data = load_dataset(name)  # DataError: one line naming the file and the problem
        split = max(splits)
        n = train_size(data, split)
        if batch > n:
            raise UserError(
                f"{where_src}{where}: must be <= {n} training examples "
                f"(dataset {name!r}, validation_split {split:g}), got {batch}"
            )


def _candidates(space: SearchSpace, name: str) -> list[Any]:
    dist = space.distributions.get(name)
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, FloatDistribution | IntDistribution):
        return [dist.low, dist.high]
    return [space.fixed.get(name, DEFAULTS[name])]


def _largest_batch(space: SearchSpace) -> tuple[int, str]:
    dist = space.distributions.get("batch_size")
    if isinstance(dist, CategoricalDistribution):
        return max(int(str(c)) for c in dist.choices), "params.batch_size.choices"
    if isinstance(dist, IntDistribution | FloatDistribution):
        return int(dist.high), "params.batch_size.high"
    return int(space.fixed.get("batch_size", DEFAULTS["batch_size"])), "params.batch_size"
