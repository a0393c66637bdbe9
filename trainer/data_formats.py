"""The file formats a dataset can come in, each read into raw or checked arrays.

* ``.npz`` in Keras' ``mnist.npz`` layout (``x_train, y_train, x_test, y_test``);
* Nielsen's ``((x_train, y_train), (x_val, y_val), (x_test, y_test))`` pickle, ``.pkl.gz``
  or ``.pkl`` (unpickling runs code from the file: only pass pickles you trust);
* a directory of the four IDX files (``train-images-idx3-ubyte[.gz]`` ...).

Every problem is a one-line :class:`~trainer.data_arrays.DataError`.
"""

from __future__ import annotations

import gzip
import math
import pickle
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, Final

import numpy as np

from trainer.data_arrays import (
    FloatArray,
    IntArray,
    check_features,
    data_error,
    describe,
    pair,
)

_NPZ_KEYS: Final = ("x_train", "y_train", "x_test", "y_test")
_IDX_STEMS: Final = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
# IDX type codes (http://yann.lecun.com/exdb/mnist/); data is big-endian.
_IDX_DTYPES: Final[dict[int, np.dtype[Any]]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_npz(label: str, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The raw ``(x_train, y_train, x_test, y_test)`` arrays of an ``.npz`` file."""
    if not zipfile.is_zipfile(path):
        raise data_error(label, "not a valid .npz file (not a zip archive)")
    try:
        archive = np.load(path, allow_pickle=False)
    except MemoryError:
        raise
    except Exception as exc:  # zipfile/numpy raise many types for a damaged file
        raise data_error(label, f"not a valid .npz file ({describe(exc)})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise data_error(label, "not a valid .npz file (holds a single array, not named arrays)")
    with archive:
        missing = [k for k in _NPZ_KEYS if k not in archive.files]
        if missing:
            keys = ", ".join(repr(k) for k in missing)
            raise data_error(
                label,
                f"not a valid .npz file (missing key{'s' if len(missing) > 1 else ''} {keys})",
            )
        arrays: dict[str, np.ndarray] = {}
        for key in _NPZ_KEYS:
            try:
                arrays[key] = archive[key]
            except MemoryError:
                raise
            except Exception as exc:
                raise data_error(
                    label, f"not a valid .npz file (cannot read {key!r}: {describe(exc)})"
                ) from exc
    return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]


def read_nielsen(label: str, path: Path) -> tuple[FloatArray, IntArray, FloatArray, IntArray]:
    """Nielsen's ``((x_train, y_train), (x_val, y_val), (x_test, y_test))`` pickle, checked.

    The training pool is his train + validation (MNIST's 60k training images, in order).
    """
    compressed = path.name.lower().endswith(".gz")
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as f:
            obj = pickle.load(f, encoding="latin1")
    except MemoryError:
        raise
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise data_error(label, f"corrupt gzip data ({describe(exc)})") from exc
    except EOFError as exc:
        raise data_error(label, f"file is truncated ({describe(exc)})") from exc
    except OSError as exc:
        raise data_error(label, f"cannot read file ({describe(exc)})") from exc
    except Exception as exc:  # unpickling can raise nearly anything
        raise data_error(label, f"not a valid pickle ({describe(exc)})") from exc
    if not (
        isinstance(obj, tuple | list)
        and len(obj) == 3
        and all(isinstance(p, tuple | list) and len(p) == 2 for p in obj)
    ):
        raise data_error(
            label,
            "not a Nielsen-style MNIST pickle (expected (train, validation, test) "
            f"pairs of (images, labels), got {_summarise(obj)})",
        )
    (xt, yt), (xv, yv), (xs, ys) = obj
    x_tr, y_tr = pair(label, "training images", "training labels", xt, yt)
    x_va, y_va = pair(label, "validation images", "validation labels", xv, yv)
    x_te, y_te = pair(label, "test images", "test labels", xs, ys)
    check_features(label, "training images", x_tr, "validation images", x_va)
    return np.concatenate([x_tr, x_va]), np.concatenate([y_tr, y_va]), x_te, y_te


def find_idx_files(label: str, directory: Path) -> tuple[Path, ...]:
    """The four IDX files in x_train, y_train, x_test, y_test order (plain or .gz)."""
    found: list[Path] = []
    missing: list[str] = []
    for stem in _IDX_STEMS.values():
        dotted = stem.replace("-idx", ".idx")  # the common "train-images.idx3-ubyte" variant
        names = (stem, f"{stem}.gz", dotted, f"{dotted}.gz")
        hit = next((directory / n for n in names if (directory / n).is_file()), None)
        if hit is None:
            missing.append(f"{stem}[.gz]")
        else:
            found.append(hit)
    if missing:
        raise data_error(label, f"not an IDX directory (missing {', '.join(missing)})")
    return tuple(found)


def read_idx(label: str, path: Path) -> np.ndarray:
    """Parse one IDX file: 0x0000, type code, ndim, big-endian uint32 dims, then data."""
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise data_error(label, f"{path.name}: corrupt gzip data ({describe(exc)})") from exc
    except EOFError as exc:
        raise data_error(label, f"{path.name}: gzip data is truncated ({describe(exc)})") from exc
    except OSError as exc:
        raise data_error(label, f"{path.name}: cannot read file ({describe(exc)})") from exc
    if len(data) < 4:
        raise data_error(label, f"{path.name}: truncated IDX file ({len(data)} bytes, no header)")
    if data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise data_error(
            label, f"{path.name}: not an IDX file (bad magic number 0x{data[:4].hex()})"
        )
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    start = 4 + 4 * ndim
    if len(data) < start:
        raise data_error(label, f"{path.name}: truncated IDX file (header cut short)")
    dims = struct.unpack(f">{ndim}I", data[4:start])
    count = math.prod(dims)
    expected, actual = count * dtype.itemsize, len(data) - start
    if actual < expected:
        raise data_error(
            label,
            f"{path.name}: truncated IDX file (shape {dims} needs {expected} data bytes, "
            f"found {actual})",
        )
    if actual > expected:
        raise data_error(
            label, f"{path.name}: {actual - expected} unexpected bytes after IDX data {dims}"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=start).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def _summarise(obj: object) -> str:
    if isinstance(obj, tuple | list):
        return f"a {type(obj).__name__} of length {len(obj)}"
    return f"a {type(obj).__name__}"
