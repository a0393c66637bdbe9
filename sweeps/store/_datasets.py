"""The data a run saw, as MLflow dataset inputs: the training, validation and test splits,
each with a name, a digest, its source and its schema, so the UI's *Dataset* column
shows them and two studies on different data are told apart.

The entities are built here rather than with ``mlflow.data`` (whose import alone costs
1.5 s): the digest hashes the arrays' shapes and a strided sample of their bytes, so it
changes with the data, its split and its scaling, and costs milliseconds even on MNIST.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from typing import Any

import numpy as np

from trainer.data import Dataset, train_size

CONTEXTS = ("training", "validation", "testing")
"""The ``mlflow.data.context`` tag of each split, as MLflow's own autologging names them."""
_SAMPLE_ROWS = 4096


def dataset_inputs(data: Dataset, validation_split: float) -> list[Any]:
    """``DatasetInput`` entities for the splits of ``data`` (an empty split is left out)."""
    return list(_inputs(data, validation_split))


@functools.lru_cache(maxsize=16)
def _inputs(data: Dataset, validation_split: float) -> tuple[Any, ...]:
    from mlflow.entities import Dataset as DatasetEntity
    from mlflow.entities import DatasetInput, InputTag

    cut = train_size(data, validation_split)
    splits = {
        "training": (data.x_train[:cut], data.y_train[:cut]),
        "validation": (data.x_train[cut:], data.y_train[cut:]),
        "testing": (data.x_test, data.y_test),
    }
    is_file = os.path.exists(data.name)
    name = os.path.basename(data.name) if is_file else data.name
    source = json.dumps({"uri": os.path.abspath(data.name) if is_file else data.name})
    out = []
    for context, (x, y) in splits.items():
        if not len(y):
            continue
        entity = DatasetEntity(
            name=name,
            digest=_digest(x, y, data.scaling),
            source_type="local" if is_file else "code",
            source=source,
            schema=_schema(data, x),
            profile=json.dumps({"features_shape": list(x.shape), "targets_shape": list(y.shape)}),
        )
        out.append(DatasetInput(entity, tags=[InputTag("mlflow.data.context", context)]))
    return tuple(out)


def _digest(x: np.ndarray, y: np.ndarray, scaling: Any) -> str:
    h = hashlib.md5(usedforsecurity=False)
    h.update(repr((x.shape, y.shape, str(x.dtype))).encode())
    step = max(1, len(x) // _SAMPLE_ROWS)
    h.update(np.ascontiguousarray(x[::step]).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())
    if scaling is not None:
        h.update(b"".join(np.ascontiguousarray(a).tobytes() for a in scaling))
    return h.hexdigest()[:8]


def _schema(data: Dataset, x: np.ndarray) -> str:
    """MLflow's tensor-spec schema, the feature columns' names beside it for a table."""

    def spec(dtype: str, shape: list[int]) -> str:
        return json.dumps([{"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": shape}}])

    schema: dict[str, Any] = {
        "mlflow_tensorspec": {
            "features": spec("float32", [-1, int(x.shape[1])]),
            "targets": spec("int64", [-1]),
        }
    }
    if data.features:
        schema["feature_names"] = list(data.features)
    if data.classes:
        schema["classes"] = [str(c) for c in data.classes]
    return json.dumps(schema)
