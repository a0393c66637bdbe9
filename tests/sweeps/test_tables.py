"""A sweep on the user's own table: a CSV with text labels, scaling swept, the runs'
dataset inputs in MLflow, the same trials from a DataFrame, and the export retrained."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import sweeps
from sweeps.errors import UserError
from sweeps.store.schema import ARTIFACT_DATA, ATTR_RUN_ID


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, Path]:
    """Three well separated blobs in 6 features, labels as text."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 6)) * 4
    y = rng.integers(0, 3, 240)
    x = centers[y] + rng.normal(size=(240, 6)) + [0, 0, 0, 0, 100, -7]
    frame = pd.DataFrame(x, columns=[f"f{j}" for j in range(6)])
    frame["species"] = np.array(["setosa", "versicolor", "virginica"])[y]
    path = tmp_path_factory.mktemp("table") / "blobs.csv"
    frame.to_csv(path, index=False)
    return frame, path


def space(dataset: str, name: str, trials: int = 4) -> dict[str, Any]:
    return {
        "study": {"name": name, "sampler": "random", "seed": 0, "pruner": "none", "trials": trials},
        "params": {
            "dataset": dataset,
            "label": "species",
            "hidden_layers": [8],
            "activation": "tanh",
            "optimizer": "adam",
            "learning_rate": {"type": "float", "low": 0.003, "high": 0.03, "log": True},
            "scale": {"type": "categorical", "choices": ["standard", "minmax"]},
            "batch_size": 16,
            "epochs": 3,
        },
    }


def test_a_sweep_on_a_csv_logs_its_data_and_retrains(table, tmp_path: Path) -> None:
    frame, path = table
    result = sweeps.run(space(str(path), "blobs"), root=tmp_path, progress=False)
    assert set(result.trials["state"]) == {"COMPLETE"}
    assert result.best is not None and result.best.value > 0.9  # separable blobs
    client = result.store.mlflow
    run_id = result.study.best_trial.user_attrs[ATTR_RUN_ID]
    run = client.get_run(run_id)
    contexts = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs if i.tags}
    assert set(contexts) == {"training", "validation", "testing"}
    testing = contexts["testing"]
    assert testing.name == "blobs.csv" and json.loads(testing.source)["uri"] == str(path)
    schema = json.loads(testing.schema)
    assert schema["classes"] == ["setosa", "versicolor", "virginica"]
    assert schema["feature_names"] == [f"f{j}" for j in range(6)]
    held = sum(round(n * 0.2) for n in frame["species"].value_counts())  # 20 % of each class
    assert json.loads(testing.profile)["features_shape"] == [held, 6]
    # two scalings are two datasets: their digests differ
    digests = set()
    for t in result.study.trials:
        inputs = client.get_run(t.user_attrs[ATTR_RUN_ID]).inputs.dataset_inputs
        digests.add((t.params["scale"], inputs[0].dataset.digest))
    assert len({d for _, d in digests}) == len({s for s, _ in digests})
    parent = client.get_run(_parent(result))
    assert parent.inputs.dataset_inputs  # the study's data on its parent run too
    data = json.loads(
        Path(client.download_artifacts(run_id, ARTIFACT_DATA, str(tmp_path))).read_text()
    )
    assert data["classes"] == ["setosa", "versicolor", "virginica"]
    assert len(data["scaling"]["offset"]) == 6
    # the exported config trains again to the same validation accuracy
    done = result.export(tmp_path / "best.yaml")
    again = sweeps.train(done.path, root=tmp_path, quiet=True)
    assert again.final is not None and again.final.val_accuracy == pytest.approx(done.trial.value)


def _parent(result: Any) -> str:
    from sweeps.store import find_parent_run

    ids = [t.user_attrs[ATTR_RUN_ID] for t in result.study.trials]
    parent = find_parent_run(result.store, result.name, ids)
    assert parent is not None
    return parent


def test_the_same_table_as_a_frame_gives_the_same_trials(table, tmp_path: Path) -> None:
    frame, path = table
    from_file = sweeps.run(space(str(path), "file"), root=tmp_path, progress=False)
    # any dataset string: data= takes its place
    from_frame = sweeps.run(space("unused", "frame"), data=frame, root=tmp_path, progress=False)
    assert list(from_frame.trials["value"]) == list(from_file.trials["value"])
    x = frame.drop(columns="species").to_numpy()
    arrays = sweeps.run(
        space("unused", "arrays"), data=(x, frame["species"].to_numpy()), root=tmp_path,
        progress=False,
    )  # fmt: skip
    assert list(arrays.trials["value"]) == list(from_file.trials["value"])
    with pytest.raises(UserError, match="arrays in memory cannot reach worker processes"):
        sweeps.run(space("unused", "w"), data=frame, workers=2, root=tmp_path, progress=False)
    with pytest.raises(UserError, match="data: must be a pandas DataFrame or a pair"):
        sweeps.run(space("unused", "w"), data=[1, 2, 3], root=tmp_path, progress=False)
