"""The data a config trains on (:func:`dataset_for`): its source loaded, a table with its
label column and its test file or split, and its features scaled (``scale``) with the
statistics of the training split alone (the rows :func:`~trainer.data.train_validation_split`
keeps), so neither validation nor test rows leak into them. Cached per process: every
trial of a sweep on the same data and scaling shares one copy.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from trainer.config import DEFAULTS, TrainConfig
from trainer.data import Dataset, load_dataset, train_size

__all__ = ["dataset_for", "scaled", "table_options"]

TABLE_OPTIONS = ("label", "test", "test_split")
"""The config fields that say how a table is read (they reach :func:`load_dataset`)."""


def table_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`TABLE_OPTIONS` of a parameter mapping (defaults where missing)."""
    return {key: params.get(key, DEFAULTS[key]) for key in TABLE_OPTIONS}


def raw_dataset(config: TrainConfig) -> Dataset:
    """The config's data as loaded, before scaling (what a served model is fed)."""
    return load_dataset(config.dataset, **table_options(dataclasses.asdict(config)))


def dataset_for(config: TrainConfig) -> Dataset:
    """The config's data, loaded and scaled (see the module docstring)."""
    return scaled(raw_dataset(config), config.scale, config.validation_split)


@functools.lru_cache(maxsize=8)
def scaled(data: Dataset, scale: str, validation_split: float) -> Dataset:
    """``data`` with its features scaled by ``scale`` (``none``: ``data`` itself):
    ``standard`` to zero mean and unit variance, ``minmax`` to [0, 1] over the training
    split; a constant feature is shifted, not divided by zero."""
    if scale == "none":
        return data
    fit = data.x_train[: train_size(data, validation_split)]
    if scale == "standard":
        offset, spread = fit.mean(axis=0, dtype=np.float64), fit.std(axis=0, dtype=np.float64)
    else:
        offset = fit.min(axis=0).astype(np.float64)
        spread = fit.max(axis=0).astype(np.float64) - offset
    factor = np.where(spread > 0, 1.0 / np.where(spread > 0, spread, 1.0), 1.0)
    offset32, factor32 = offset.astype(np.float32), factor.astype(np.float32)
    arrays = {}
    for key in ("x_train", "x_test"):
        x = np.subtract(getattr(data, key), offset32, dtype=np.float32)
        x *= factor32  # in place: one new array per split, no temporary
        x.flags.writeable = False
        arrays[key] = x
    offset32.flags.writeable = factor32.flags.writeable = False
    return dataclasses.replace(data, **arrays, scaling=(offset32, factor32))
