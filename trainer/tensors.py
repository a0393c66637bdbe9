"""A dataset's examples as tensors, made once and shared.

A sweep holds one population per shape and ``train()`` a population of one; each would
otherwise copy the training set into its own tensors (157 MB on full MNIST). Here the
tensors are made once per dataset, validation split and probe size, for as long as the
dataset lives.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from trainer._tf import tf_keras
from trainer.data import Dataset, train_validation_split


@dataclass(frozen=True)
class DataTensors:
    """A dataset's examples as tensors, for one validation split and probe size."""

    x_train: Any
    y_train: Any
    validation: tuple[Any, Any]
    test: tuple[Any, Any]
    probe_x: Any
    probe_y: Any


_TENSORS: weakref.WeakKeyDictionary[Dataset, dict[tuple[float, int], DataTensors]] = (
    weakref.WeakKeyDictionary()
)


def data_tensors(data: Dataset, split: float, n_probe: int) -> DataTensors:
    """``data``'s examples as tensors: the training set, the validation and test pairs,
    the probe batch (its first ``n_probe`` training examples); cached."""
    tf, _ = tf_keras()
    by_split = _TENSORS.setdefault(data, {})
    key = (split, n_probe)
    if key not in by_split:
        x_tr, y_tr, x_val, y_val = train_validation_split(data, split)
        by_split[key] = DataTensors(
            tf.constant(x_tr, tf.float32),
            tf.constant(y_tr, tf.int32),
            (tf.constant(x_val, tf.float32), tf.constant(y_val, tf.int32)),
            (tf.constant(data.x_test, tf.float32), tf.constant(data.y_test, tf.int32)),
            tf.constant(x_tr[:n_probe], tf.float32),
            tf.constant(y_tr[:n_probe], tf.int32),
        )
    return by_split[key]
