"""Trained networks as MLflow models: saved with the Keras flavour under a run's ``model``
artifact (signature and input example included), so the run page shows them and
``mlflow.pyfunc.load_model("runs:/<id>/model")`` predicts; registered by name on request.

The model is saved beside the run, not with ``mlflow.keras.log_model``: that needs the
run active in the fluent API, which is per thread, and these writes happen on the
tracker's writer thread for runs that have already ended.
"""

from __future__ import annotations

import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from sweeps.store._locations import Store
from sweeps.store.schema import ARTIFACT_MODEL, TAG_MODEL


def model_uri(run_id: str) -> str:
    return f"runs:/{run_id}/{ARTIFACT_MODEL}"


def _requirements() -> list[str]:
    """What serving the model needs, pinned to what trained it (MLflow's own inference
    of requirements loads the model in a subprocess: seconds per model)."""
    out = []
    for package in ("tensorflow", "keras"):
        try:
            out.append(f"{package}=={version(package)}")
        except PackageNotFoundError:  # pragma: no cover - a TF without its metadata
            out.append(package)
    return out


def save_model(client: Any, run_id: str, model: Any, example: np.ndarray) -> None:
    """Save the Keras ``model`` as run ``run_id``'s ``model`` artifact and tag the run
    with its URI; ``example``: a few input rows (the signature's shape and dtype)."""
    import mlflow.keras
    from mlflow.entities import RunTag
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    example = np.asarray(example, dtype=np.float32)
    outputs = int(model.output_shape[-1])
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, example.shape[1]))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, outputs))]),
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, ARTIFACT_MODEL)
        path.mkdir()
        mlflow.keras.save_model(
            model,
            str(path),
            signature=signature,
            input_example=example,
            pip_requirements=_requirements(),
        )
        client.log_artifacts(run_id, str(path), ARTIFACT_MODEL)
    client.log_batch(run_id, tags=[RunTag(TAG_MODEL, model_uri(run_id))])


def has_model(store: Store, run_id: str) -> bool:
    """Whether run ``run_id`` holds a saved model."""
    files = store.mlflow.list_artifacts(run_id, ARTIFACT_MODEL)
    return any(Path(f.path).name == "MLmodel" for f in files)


def register_model(store: Store, run_id: str, name: str) -> Any:
    """Register run ``run_id``'s model under ``name`` (a new version of it if the name is
    taken); the ``ModelVersion``. The caller checks the name and that the run has a
    model (:func:`has_model`), before anything is written."""
    from mlflow.exceptions import MlflowException

    client = store.mlflow  # not mlflow.register_model: it prints to stderr
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    source = f"{client.get_run(run_id).info.artifact_uri}/{ARTIFACT_MODEL}"
    return client.create_model_version(name, source, run_id=run_id)
