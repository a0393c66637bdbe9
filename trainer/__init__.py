"""Build and train small Keras MLPs from a plain parameter dict, watching every batch.

``trainer`` knows nothing about Optuna: a dict goes in (validated once into a
:class:`TrainConfig`), a :class:`TrainResult` with an outcome comes out.
TensorFlow is imported lazily, on the first call that trains.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trainer.config import ConfigError, TrainConfig
from trainer.data import DataError, Dataset, load_dataset

if TYPE_CHECKING:
    from trainer.results import EpochRecord, TrainResult
    from trainer.training import train

__all__ = [
    "ConfigError",
    "DataError",
    "Dataset",
    "EpochRecord",
    "TrainConfig",
    "TrainResult",
    "load_dataset",
    "train",
]


def __getattr__(name: str) -> Any:
    if name in ("TrainResult", "EpochRecord"):
        from trainer import results

        return getattr(results, name)
    if name == "train":
        from trainer import training

        return training.train
    raise AttributeError(f"module 'trainer' has no attribute {name!r}")
