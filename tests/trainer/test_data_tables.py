"""Tables as datasets: CSV, Parquet, .npy and .npz files and arrays or a DataFrame from
Python read into the same arrays; labels of any kind; a stratified, seeded test split or
a test file; scaling from the training split alone; every bad table one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainer import TrainConfig
from trainer.data import DataError, load_dataset, register_arrays, train_size
from trainer.inputs import dataset_for, raw_dataset
from trainer.model import predict_numpy, serving_model


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 300
    y = rng.choice(["cat", "dog", "emu"], size=n, p=[0.5, 0.3, 0.2])
    x = rng.normal(size=(n, 4)) * [1, 10, 100, 0] + [0, 5, -50, 3]  # last column constant
    out = pd.DataFrame(x, columns=["a", "b", "c", "flat"])
    out["kind"] = y
    return out


def test_a_csv_a_parquet_and_a_frame_give_the_same_dataset(frame, tmp_path: Path) -> None:
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    from_csv = load_dataset(str(tmp_path / "t.csv"), label="kind")
    from_parquet = load_dataset(str(tmp_path / "t.parquet"), label="kind")
    from_frame = load_dataset(register_arrays(frame, label="kind"), label="kind")
    assert from_csv.classes == ("cat", "dog", "emu") and from_csv.num_classes == 3
    assert from_csv.features == ("a", "b", "c", "flat")
    for other in (from_parquet, from_frame):
        assert other.classes == from_csv.classes
        for key in ("x_train", "y_train", "x_test", "y_test"):
            assert np.array_equal(getattr(other, key), getattr(from_csv, key)), key
    # every row once, as float32; the labels map back to the file's
    assert len(from_csv.y_train) + len(from_csv.y_test) == len(frame)
    assert from_csv.x_train.dtype == np.float32
    row = from_csv.x_train[0]
    match = frame[np.isclose(frame["a"], row[0], atol=1e-6)]
    assert from_csv.classes[from_csv.y_train[0]] == match["kind"].iloc[0]


def test_the_test_split_is_stratified_and_the_same_every_time(frame, tmp_path: Path) -> None:
    frame.to_csv(tmp_path / "t.csv", index=False)
    data = load_dataset(str(tmp_path / "t.csv"), label="kind", test_split=0.2)
    counts = frame["kind"].value_counts()
    for i, name in enumerate(data.classes):
        assert (data.y_test == i).sum() == round(counts[name] * 0.2)
    source = register_arrays(frame, label="kind")
    again = load_dataset(source, label="kind", test_split=0.2)
    assert np.array_equal(again.y_test, data.y_test)
    # shuffled once: the validation rows carved off the end are not one class's block
    tail = data.y_train[train_size(data, 0.1) :]
    assert len(np.unique(tail)) == 3


def test_numbers_as_labels_and_other_formats(tmp_path: Path) -> None:
    x = np.arange(40, dtype=np.float64).reshape(20, 2)
    y = np.array([7, 3] * 10)
    np.save(tmp_path / "t.npy", np.column_stack([x, y]))
    np.savez(tmp_path / "t.npz", x=x, y=y)
    pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": [f"{v}" for v in y]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    npy = load_dataset(str(tmp_path / "t.npy"))  # the last column is the label
    npz = load_dataset(str(tmp_path / "t.npz"))
    csv = load_dataset(str(tmp_path / "t.csv"), label="y")  # text "7", "3": numbers
    arrays = load_dataset(register_arrays(x, y))
    for data in (npy, npz, csv, arrays):
        assert data.classes == (3, 7) and data.num_features == 2
        assert np.array_equal(data.y_test, npy.y_test)
        assert np.array_equal(data.x_train, npy.x_train)


def test_a_test_file_is_used_whole(frame, tmp_path: Path) -> None:
    frame[:200].to_csv(tmp_path / "train.csv", index=False)
    frame[200:].to_csv(tmp_path / "test.csv", index=False)
    data = load_dataset(str(tmp_path / "train.csv"), label="kind", test=str(tmp_path / "test.csv"))
    assert len(data.y_train) == 200 and len(data.y_test) == 100
    want = np.searchsorted(np.array(data.classes), frame["kind"][200:].to_numpy())
    assert np.array_equal(data.y_test, want)  # the test file's order, classes shared


@pytest.mark.parametrize("scale", ["standard", "minmax"])
def test_scaling_uses_the_training_split_alone(frame, tmp_path: Path, scale: str) -> None:
    frame.to_csv(tmp_path / "t.csv", index=False)
    params = {"dataset": str(tmp_path / "t.csv"), "label": "kind", "validation_split": 0.25}
    config = TrainConfig.from_dict({**params, "scale": scale})
    raw, data = raw_dataset(config), dataset_for(config)
    fit = raw.x_train[: train_size(raw, 0.25)].astype(np.float64)
    if scale == "standard":
        mean, std = fit.mean(axis=0), fit.std(axis=0)
        std[std == 0] = 1.0
        want = (raw.x_test - mean) / std
        scaled_fit = data.x_train[: train_size(raw, 0.25)]
        np.testing.assert_allclose(scaled_fit[:, :3].mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(scaled_fit[:, :3].std(axis=0), 1, atol=1e-4)
    else:
        low, span = fit.min(axis=0), fit.max(axis=0) - fit.min(axis=0)
        span[span == 0] = 1.0
        want = (raw.x_test - low) / span
        assert data.x_train[: train_size(raw, 0.25)].min() == 0.0
    np.testing.assert_allclose(data.x_test, want, rtol=1e-5, atol=1e-5)
    assert np.isfinite(data.x_train).all()  # the constant column: shifted, not divided by 0
    assert dataset_for(config) is data  # cached: every trial shares it
    # a served model takes the raw features and scales them itself
    weights = [np.full((4, 3), 0.1, np.float32), np.zeros(3, np.float32)]
    tiny = TrainConfig.from_dict({**params, "scale": scale, "hidden_layers": []})
    model = serving_model(tiny, weights, scaling=data.scaling)
    np.testing.assert_allclose(
        model.predict(raw.x_test, verbose=0),
        predict_numpy(tiny, weights, data.x_test),
        atol=1e-5,
    )


BAD = {
    "no label column": ("a,b\n1,2\n", "label column 'y' not found; columns: a, b"),
    "text feature": ("a,c,y\n1,x,0\n", "feature column 'c' is not numeric (e.g. 'x')"),
    "missing feature": ("a,b,y\n1,,0\n2,3,1\n", "1 NaN/inf feature value(s), first in column 'b'"),
    "empty label": ("a,y\n1,\n2,1\n", "the label column has 1 empty value(s)"),
    "one class": ("a,y\n1,k\n2,k\n", "one class only ('k'): nothing to classify"),
    "no rows": ("a,y\n", "no data rows"),
    "few rows": ("a,y\n1,0\n2,1\n3,0\n", "3 rows: too few to hold out a test set and train"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_table_is_one_line_naming_the_problem(case: str, tmp_path: Path) -> None:
    text, expected = BAD[case]
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_dataset(str(path), label="y")
    message = str(err.value)
    assert message == f"dataset '{path}': {message.split(': ', 1)[1]}" and "\n" not in message
    assert expected in message


def test_a_frame_with_text_or_missing_values_is_refused_in_one_line() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "s": ["u", "v"], "y": [0, 1]})
    with pytest.raises(DataError, match="feature column 's' is not numeric"):
        register_arrays(frame, label="y")
    with pytest.raises(DataError, match="NaN/inf feature value"):
        register_arrays(pd.DataFrame({"a": [1.0, np.nan], "y": [0, 1]}), label="y")
