"""Tests for trainer.data: the embedded subset, every file format, caching, errors, split."""

from __future__ import annotations

import gzip
import importlib.resources
import os
import pickle
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from trainer import data
from trainer.data import DataError, Dataset, load_dataset, train_validation_split
from trainer.datasets import _build_mnist_mini

SHARED_PKL = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist.pkl.gz"
needs_shared = pytest.mark.skipif(
    not SHARED_PKL.is_file(),
    reason=f"full MNIST pickle not found at {SHARED_PKL} (only on the team's machines)",
)

IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

Arrays = dict[str, np.ndarray]


@pytest.fixture(autouse=True)
def _fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with an empty dataset cache and no user MNIST settings."""
    monkeypatch.delenv("SWEEPS_MNIST_PATH", raising=False)
    data._load_cached.cache_clear()
    yield
    data._load_cached.cache_clear()


@pytest.fixture(scope="module")
def shared_pkl() -> tuple[Any, Any, Any]:
    """Nielsen's three (images, labels) pairs, read directly with pickle (the reference)."""
    with gzip.open(SHARED_PKL, "rb") as f:
        result: tuple[Any, Any, Any] = pickle.load(f, encoding="latin1")
    return result


# --------------------------------------------------------------------------- helpers


def byte_arrays(n_train: int = 12, n_test: int = 5, seed: int = 0) -> Arrays:
    """Small MNIST-shaped uint8 data; labels cover 0..9 and pixels hit 0 and 255."""
    rng = np.random.default_rng(seed)
    x_train = rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8)
    x_test = rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8)
    x_train[0, 0, :2] = (0, 255)
    return {
        "x_train": x_train,
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": x_test,
        "y_test": (np.arange(n_test) % 10).astype(np.uint8),
    }


def expected_from_bytes(arrays: Arrays) -> Arrays:
    """What every loader must return for uint8 sources: flat float32 byte/255, int64 labels."""
    out: Arrays = {}
    for key, value in arrays.items():
        if key.startswith("x"):
            out[key] = value.reshape(len(value), -1).astype(np.float32) / np.float32(255)
        else:
            out[key] = value.astype(np.int64)
    return out


def write_npz(path: Path, arrays: Arrays) -> Path:
    with path.open("wb") as f:  # a file object: numpy would append ".npz" to "x.NPZ"
        np.savez_compressed(f, **arrays)  # type: ignore[arg-type]
    return path


def write_nielsen(path: Path, arrays: Arrays, n_val: int) -> Path:
    """Nielsen's layout: float32 byte/256 images, int64 labels; last n_val train rows are val."""

    def pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return x.reshape(len(x), -1).astype(np.float32) / np.float32(256), y.astype(np.int64)

    cut = len(arrays["x_train"]) - n_val
    obj = (
        pair(arrays["x_train"][:cut], arrays["y_train"][:cut]),
        pair(arrays["x_train"][cut:], arrays["y_train"][cut:]),
        pair(arrays["x_test"], arrays["y_test"]),
    )
    payload = pickle.dumps(obj, protocol=2)
    path.write_bytes(gzip.compress(payload) if path.name.endswith(".gz") else payload)
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    return header + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_idx(directory: Path, arrays: Arrays, gz: bool) -> Path:
    directory.mkdir(exist_ok=True)
    for key, name in IDX_NAMES.items():
        raw = idx_bytes(arrays[key])
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (directory / name).write_bytes(raw)
    return directory


def assert_arrays(ds: Dataset, expected: Arrays) -> None:
    for key, want in expected.items():
        got = getattr(ds, key)
        assert got.dtype == want.dtype, key
        assert got.shape == want.shape, key
        np.testing.assert_array_equal(got, want, err_msg=key)


def assert_one_line_error(exc: pytest.ExceptionInfo[DataError], *parts: str) -> None:
    message = str(exc.value)
    assert type(exc.value) is DataError
    assert "\n" not in message and "\r" not in message, message
    assert message.startswith("dataset "), message
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


# --------------------------------------------------------------------------- mnist-mini


def test_mini_has_expected_shapes_dtypes_and_ranges() -> None:
    ds = load_dataset("mnist-mini")
    assert ds.name == "mnist-mini"
    assert ds.x_train.shape == (10_000, 784) and ds.x_train.dtype == np.float32
    assert ds.y_train.shape == (10_000,) and ds.y_train.dtype == np.int64
    assert ds.x_test.shape == (2_000, 784) and ds.x_test.dtype == np.float32
    assert ds.y_test.shape == (2_000,) and ds.y_test.dtype == np.int64
    for x in (ds.x_train, ds.x_test):
        assert x.min() == 0.0 and x.max() == 1.0  # byte/255: 255 maps to exactly 1
    assert set(np.unique(ds.y_train)) == set(range(10))
    assert set(np.unique(ds.y_test)) == set(range(10))
    assert ds.num_classes == 10 and ds.num_features == 784


def test_mini_file_stores_uint8_bytes() -> None:
    resource = importlib.resources.files("trainer.datasets").joinpath("mnist_mini.npz")
    with importlib.resources.as_file(resource) as path, np.load(path) as npz:
        assert sorted(npz.files) == ["x_test", "x_train", "y_test", "y_train"]
        assert {k: (npz[k].dtype, npz[k].shape) for k in npz.files} == {
            "x_train": (np.uint8, (10_000, 784)),
            "y_train": (np.uint8, (10_000,)),
            "x_test": (np.uint8, (2_000, 784)),
            "y_test": (np.uint8, (2_000,)),
        }
        assert path.stat().st_size < 4_000_000


@needs_shared
def test_mini_equals_first_rows_of_shared_full_set(shared_pkl: tuple[Any, Any, Any]) -> None:
    (x_tr, y_tr), _val, (x_te, y_te) = shared_pkl
    ds = load_dataset("mnist-mini")
    want_train = np.rint(x_tr[:10_000] * 256).astype(np.float32) / np.float32(255)
    want_test = np.rint(x_te[:2_000] * 256).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(ds.x_train, want_train)
    np.testing.assert_array_equal(ds.x_test, want_test)
    np.testing.assert_array_equal(ds.y_train, y_tr[:10_000])
    np.testing.assert_array_equal(ds.y_test, y_te[:2_000])


def test_builder_recovers_bytes_exactly(tmp_path: Path) -> None:
    arrays = byte_arrays(n_train=8, n_test=4)
    src = write_nielsen(tmp_path / "src.pkl.gz", arrays, n_val=2)
    out = tmp_path / "mini.npz"
    _build_mnist_mini.build(src, out, n_train=5, n_test=3)
    with np.load(out) as npz:
        np.testing.assert_array_equal(npz["x_train"], arrays["x_train"][:5].reshape(5, 784))
        np.testing.assert_array_equal(npz["x_test"], arrays["x_test"][:3].reshape(3, 784))
        np.testing.assert_array_equal(npz["y_train"], arrays["y_train"][:5])
        np.testing.assert_array_equal(npz["y_test"], arrays["y_test"][:3])
        assert {npz[k].dtype for k in npz.files} == {np.dtype(np.uint8)}
    with pytest.raises(ValueError, match="need 7 training"):
        _build_mnist_mini.build(src, out, n_train=7, n_test=3)


def test_builder_refuses_values_that_are_not_bytes_over_256() -> None:
    with pytest.raises(ValueError, match="not exact multiples of 1/256"):
        _build_mnist_mini.to_bytes(np.array([[0.5, 0.3]], dtype=np.float32), "x")


# --------------------------------------------------------------------------- file formats


def _npz_uint8_28x28(tmp_path: Path, arrays: Arrays) -> Path:
    return write_npz(tmp_path / "mnist.npz", arrays)


def _npz_float_flat(tmp_path: Path, arrays: Arrays) -> Path:
    floats = expected_from_bytes(arrays)
    floats["y_train"] = floats["y_train"].astype(np.int32)  # any integer dtype is fine
    return write_npz(tmp_path / "flat.NPZ", floats)


def _idx_gz(tmp_path: Path, arrays: Arrays) -> Path:
    return write_idx(tmp_path / "idx-gz", arrays, gz=True)


def _idx_plain(tmp_path: Path, arrays: Arrays) -> Path:
    return write_idx(tmp_path / "idx-plain", arrays, gz=False)


@pytest.mark.parametrize(
    "writer",
    [_npz_uint8_28x28, _npz_float_flat, _idx_gz, _idx_plain],
    ids=["npz-uint8-28x28", "npz-float-flat", "idx-gz", "idx-plain"],
)
def test_loaders_agree_on_the_same_images(
    tmp_path: Path, writer: Callable[[Path, Arrays], Path]
) -> None:
    arrays = byte_arrays()
    source = str(writer(tmp_path, arrays))
    ds = load_dataset(source)
    assert ds.name == source
    assert_arrays(ds, expected_from_bytes(arrays))
    assert ds.num_features == 784 and ds.num_classes == 10


@pytest.mark.parametrize("filename", ["nielsen.pkl.gz", "nielsen.pkl"])
def test_nielsen_pickle_keeps_values_and_joins_train_and_validation(
    tmp_path: Path, filename: str
) -> None:
    arrays = byte_arrays(n_train=12)
    ds = load_dataset(str(write_nielsen(tmp_path / filename, arrays, n_val=2)))
    assert_arrays(
        ds,
        {
            # Nielsen's byte/256 values are kept, not rescaled to byte/255
            "x_train": arrays["x_train"].reshape(12, 784).astype(np.float32) / np.float32(256),
            "y_train": arrays["y_train"].astype(np.int64),
            "x_test": arrays["x_test"].reshape(5, 784).astype(np.float32) / np.float32(256),
            "y_test": arrays["y_test"].astype(np.int64),
        },
    )


def test_num_classes_is_max_label_plus_one(tmp_path: Path) -> None:
    arrays = byte_arrays()
    arrays["y_train"] = arrays["y_train"] % 4
    arrays["y_test"] = np.full(5, 6, dtype=np.uint8)
    assert load_dataset(str(write_npz(tmp_path / "d.npz", arrays))).num_classes == 7


def test_arrays_are_read_only() -> None:
    ds = load_dataset("mnist-mini")
    for key in ("x_train", "y_train", "x_test", "y_test"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(ds, key)[0] = 0


def test_cache_returns_same_object_until_file_changes(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "d.npz", byte_arrays(seed=1))
    first = load_dataset(str(path))
    assert load_dataset(str(path)) is first

    write_npz(path, byte_arrays(seed=2))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = load_dataset(str(path))
    assert second is not first
    assert_arrays(second, expected_from_bytes(byte_arrays(seed=2)))


# --------------------------------------------------------------------------- full MNIST


def test_sweeps_mnist_path_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = byte_arrays()
    monkeypatch.setenv("SWEEPS_MNIST_PATH", str(write_npz(tmp_path / "full.npz", arrays)))
    monkeypatch.setattr(data, "_download_mnist", _no_download)
    ds = load_dataset("mnist")
    assert ds.name == "mnist"
    assert_arrays(ds, expected_from_bytes(arrays))


def test_sweeps_mnist_path_missing_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "nope.npz"
    monkeypatch.setenv("SWEEPS_MNIST_PATH", str(missing))
    with pytest.raises(DataError) as exc:
        load_dataset("mnist")
    assert_one_line_error(exc, "SWEEPS_MNIST_PATH", str(missing), "file not found")


def test_keras_cache_under_keras_home_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "datasets").mkdir()
    arrays = byte_arrays(seed=3)
    write_npz(tmp_path / "datasets" / "mnist.npz", arrays)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(data, "_download_mnist", _no_download)
    assert_arrays(load_dataset("mnist"), expected_from_bytes(arrays))


def test_download_failure_is_one_line_with_a_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # empty: no cached mnist.npz

    def offline() -> Any:
        raise OSError("URL fetch failure:\n[Errno -2] Name or service not known")

    monkeypatch.setattr(data, "_download_mnist", offline)
    with pytest.raises(DataError) as exc:
        load_dataset("mnist")
    assert_one_line_error(
        exc, "'mnist'", "could not download full MNIST", "Name or service", "SWEEPS_MNIST_PATH"
    )


def test_downloaded_arrays_are_normalised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    arrays = byte_arrays(seed=4)
    monkeypatch.setattr(
        data,
        "_download_mnist",
        lambda: ((arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])),
    )
    assert_arrays(load_dataset("mnist"), expected_from_bytes(arrays))


def _no_download() -> Any:
    raise AssertionError("must not download")


# --------------------------------------------------------------------------- errors


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "absent" / "y.npz"


def _corrupt_gzip(tmp_path: Path) -> Path:
    path = tmp_path / "bad.pkl.gz"
    path.write_bytes(b"this is not gzip data at all")
    return path


def _truncated_gzip(tmp_path: Path) -> Path:
    path = write_nielsen(tmp_path / "cut.pkl.gz", byte_arrays(), n_val=2)
    path.write_bytes(path.read_bytes()[:200])
    return path


def _garbage_pickle(tmp_path: Path) -> Path:
    path = tmp_path / "junk.pkl"
    path.write_bytes(b"\x80\x02junk that is no pickle")
    return path


def _wrong_pickle_layout(tmp_path: Path) -> Path:
    path = tmp_path / "dict.pkl"
    path.write_bytes(pickle.dumps({"x": 1}))
    return path


def _npz_missing_key(tmp_path: Path) -> Path:
    arrays = byte_arrays()
    del arrays["y_test"]
    return write_npz(tmp_path / "three.npz", arrays)


def _npz_not_zip(tmp_path: Path) -> Path:
    path = tmp_path / "text.npz"
    path.write_text("x_train,y_train\n")
    return path


def _npz_corrupt_member(tmp_path: Path) -> Path:
    path = write_npz(tmp_path / "crc.npz", byte_arrays())
    raw = bytearray(path.read_bytes())
    raw[100:140] = bytes(40)  # inside the first member's compressed data
    path.write_bytes(bytes(raw))
    return path


def _count_mismatch(tmp_path: Path) -> Path:
    arrays = byte_arrays()
    arrays["y_train"] = arrays["y_train"][:11]
    return write_npz(tmp_path / "count.npz", arrays)


def _feature_mismatch(tmp_path: Path) -> Path:
    arrays = byte_arrays()
    arrays["x_test"] = arrays["x_test"][:, :14, :14]
    return write_npz(tmp_path / "features.npz", arrays)


def _negative_label(tmp_path: Path) -> Path:
    arrays: dict[str, np.ndarray] = dict(byte_arrays())
    arrays["y_test"] = np.array([0, 1, -3, 2, 4])
    return write_npz(tmp_path / "neg.npz", arrays)


def _fractional_label(tmp_path: Path) -> Path:
    arrays: dict[str, np.ndarray] = dict(byte_arrays())
    arrays["y_train"] = np.arange(12) + 0.5
    return write_npz(tmp_path / "frac.npz", arrays)


def _one_hot_labels(tmp_path: Path) -> Path:
    arrays: dict[str, np.ndarray] = dict(byte_arrays())
    arrays["y_train"] = np.eye(10, dtype=np.uint8)[arrays["y_train"] % 10]
    return write_npz(tmp_path / "onehot.npz", arrays)


def _float_pixels_0_255(tmp_path: Path) -> Path:
    arrays: dict[str, np.ndarray] = dict(byte_arrays())
    arrays["x_train"] = arrays["x_train"].astype(np.float32)
    return write_npz(tmp_path / "float255.npz", arrays)


def _truncated_idx(tmp_path: Path) -> Path:
    directory = write_idx(tmp_path / "idx", byte_arrays(), gz=False)
    images = directory / IDX_NAMES["x_train"]
    images.write_bytes(images.read_bytes()[:-10])
    return directory


def _truncated_idx_in_gz(tmp_path: Path) -> Path:
    directory = write_idx(tmp_path / "idx", byte_arrays(), gz=True)
    images = directory / f"{IDX_NAMES['x_train']}.gz"
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:-10]))
    return directory


def _idx_bad_magic(tmp_path: Path) -> Path:
    directory = write_idx(tmp_path / "idx", byte_arrays(), gz=False)
    (directory / IDX_NAMES["y_test"]).write_bytes(b"\x12\x34\x08\x01" + bytes(9))
    return directory


def _idx_missing_file(tmp_path: Path) -> Path:
    directory = write_idx(tmp_path / "idx", byte_arrays(), gz=True)
    (directory / f"{IDX_NAMES['y_test']}.gz").unlink()
    return directory


def _unsupported_suffix(tmp_path: Path) -> Path:
    path = tmp_path / "digits.txt"
    path.write_text("1,2,3\n")
    return path


ERROR_CASES: list[tuple[Callable[[Path], Path], str]] = [
    (_missing, "file not found"),
    (_corrupt_gzip, "corrupt gzip data"),
    (_truncated_gzip, "file is truncated"),
    (_garbage_pickle, "not a valid pickle"),
    (_wrong_pickle_layout, "not a Nielsen-style MNIST pickle"),
    (_npz_missing_key, "not a valid .npz file (missing key 'y_test')"),
    (_npz_not_zip, "not a valid .npz file (not a zip archive)"),
    (_npz_corrupt_member, "not a valid .npz file"),
    (_count_mismatch, "x_train has 12 images but y_train has 11 labels"),
    (_feature_mismatch, "x_train has 784 features, x_test has 196"),
    (_negative_label, "y_test: labels must be in 0..999, found -3"),
    (_fractional_label, "y_train: labels must be whole numbers, found 0.5"),
    (_one_hot_labels, "y_train must be a non-empty 1-D array of class indices"),
    (_float_pixels_0_255, "x_train: float pixels must be in [0, 1]"),
    (_truncated_idx, "train-images-idx3-ubyte: truncated IDX file"),
    (_truncated_idx_in_gz, "train-images-idx3-ubyte.gz: truncated IDX file"),
    (_idx_bad_magic, "t10k-labels-idx1-ubyte: not an IDX file (bad magic number 0x12340801)"),
    (_idx_missing_file, "not an IDX directory (missing t10k-labels-idx1-ubyte[.gz])"),
    (_unsupported_suffix, "unsupported file type .txt; expected .npz, .pkl.gz, .pkl, an IDX"),
]


@pytest.mark.parametrize(
    ("make", "problem"), ERROR_CASES, ids=[make.__name__.strip("_") for make, _ in ERROR_CASES]
)
def test_bad_sources_give_one_line_errors_naming_path_and_problem(
    tmp_path: Path, make: Callable[[Path], Path], problem: str
) -> None:
    source = str(make(tmp_path))
    with pytest.raises(DataError) as exc:
        load_dataset(source)
    assert_one_line_error(exc, f"dataset '{source}': ", problem)


def test_control_characters_in_a_path_stay_on_one_line(tmp_path: Path) -> None:
    source = str(tmp_path / "two\nlines.npz")
    with pytest.raises(DataError) as exc:
        load_dataset(source)
    assert_one_line_error(exc, source.replace("\n", "\\n"), "file not found")


@pytest.mark.parametrize("name", ["foo", "mnist_mini", "MNIST", ""])
def test_unknown_name_lists_the_choices(name: str) -> None:
    with pytest.raises(DataError) as exc:
        load_dataset(name)
    assert_one_line_error(
        exc, f"dataset '{name}': unknown dataset; expected 'mnist-mini', 'mnist' or a path"
    )


def test_dataset_rejects_inconsistent_arrays() -> None:
    with pytest.raises(DataError, match="x_test has 3 images but y_test has 2 labels"):
        Dataset(
            "hand-made",
            np.zeros((4, 784), np.float32),
            np.zeros(4, np.int64),
            np.zeros((3, 784), np.float32),
            np.zeros(2, np.int64),
        )


# --------------------------------------------------------------------------- split


def test_split_takes_the_last_examples_and_is_deterministic(tmp_path: Path) -> None:
    ds = load_dataset(str(write_npz(tmp_path / "d.npz", byte_arrays(n_train=20))))
    x_tr, y_tr, x_val, y_val = train_validation_split(ds, 0.25)
    assert (len(x_tr), len(y_tr), len(x_val), len(y_val)) == (15, 15, 5, 5)
    np.testing.assert_array_equal(x_val, ds.x_train[15:])
    np.testing.assert_array_equal(y_val, ds.y_train[15:])
    np.testing.assert_array_equal(np.concatenate([x_tr, x_val]), ds.x_train)
    again = train_validation_split(ds, 0.25)
    for first, second in zip((x_tr, y_tr, x_val, y_val), again, strict=True):
        np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(
    ("split", "n_val"), [(0.1, 1000), (0.5, 5000), (1 / 3, 3333), (0.29999, 3000)]
)
def test_split_sizes_round_n_times_split(split: float, n_val: int) -> None:
    ds = load_dataset("mnist-mini")
    x_tr, y_tr, x_val, y_val = train_validation_split(ds, split)
    assert x_val.shape == (n_val, 784) and y_val.shape == (n_val,)
    assert x_tr.shape == (10_000 - n_val, 784) and y_tr.shape == (10_000 - n_val,)


def test_split_zero_gives_empty_validation() -> None:
    ds = load_dataset("mnist-mini")
    x_tr, y_tr, x_val, y_val = train_validation_split(ds, 0.0)
    assert x_tr.shape == (10_000, 784) and y_tr.shape == (10_000,)
    assert x_val.shape == (0, 784) and x_val.dtype == np.float32
    assert y_val.shape == (0,) and y_val.dtype == np.int64


@pytest.mark.parametrize("split", [-0.1, 0.51, 1.0, float("nan")])
def test_split_out_of_range_is_rejected(split: float) -> None:
    ds = load_dataset("mnist-mini")
    with pytest.raises(ValueError, match=r"validation_split must be in \[0, 0.5\]"):
        train_validation_split(ds, split)


@needs_shared
def test_split_of_nielsen_pickle_at_one_sixth_is_his_validation_set(
    shared_pkl: tuple[Any, Any, Any],
) -> None:
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = shared_pkl
    ds = load_dataset(str(SHARED_PKL))
    assert ds.x_train.shape == (60_000, 784) and ds.x_test.shape == (10_000, 784)
    got_x_tr, got_y_tr, got_x_va, got_y_va = train_validation_split(ds, 1 / 6)
    np.testing.assert_array_equal(got_x_tr, x_tr)
    np.testing.assert_array_equal(got_y_tr, y_tr)
    np.testing.assert_array_equal(got_x_va, x_va)
    np.testing.assert_array_equal(got_y_va, y_va)
    np.testing.assert_array_equal(ds.x_test, x_te)
    np.testing.assert_array_equal(ds.y_test, y_te)
