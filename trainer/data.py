"""Load the digit datasets the sweeps train on, as flat float32 images and int64 labels.

Every source ends up as the same :class:`Dataset`: images ``float32 (n, features)`` in
[0, 1] and labels ``int64 (n,)``, so the model code never cares where data came from.

Sources (``load_dataset(source)``):

* ``"mnist-mini"``: 10k train / 2k test MNIST images embedded in the package; no
  network, so tests and quick sweeps always work.
* ``"mnist"``: full MNIST (60k / 10k). ``$SWEEPS_MNIST_PATH`` if set, else Keras'
  cache (``$KERAS_HOME`` or ``~/.keras``, ``datasets/mnist.npz``), else a Keras download.
* a path: ``.npz`` in Keras' ``mnist.npz`` layout, Nielsen's ``.pkl.gz`` / ``.pkl``,
  or a directory of the four IDX files (``train-images-idx3-ubyte[.gz]`` ...).

Loaded datasets are cached per process (keyed on resolved path, mtime and size) because
a sweep loads the same data for every trial, and their arrays are read-only because
that cache shares them between trials.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import logging
import math
import os
import pickle
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = ["DataError", "Dataset", "load_dataset", "train_validation_split"]

log = logging.getLogger(__name__)

_MNIST_MINI: Final = "mnist-mini"
_MNIST: Final = "mnist"
_MNIST_PATH_ENV: Final = "SWEEPS_MNIST_PATH"
# A label column of garbage would otherwise silently build a huge softmax layer.
_MAX_CLASSES: Final = 1000
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
_PATH_SUFFIXES: Final = (".npz", ".pkl", ".pkl.gz", ".gz")
_UNKNOWN: Final = (
    "unknown dataset; expected 'mnist-mini', 'mnist' or a path to .npz, .pkl.gz or an IDX directory"
)

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


class DataError(ValueError):
    """One-line, user-facing problem with a data source (missing file, bad format)."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A training pool and a test set, ready for an MLP.

    ``x_*`` are float32 ``(n, num_features)`` in [0, 1]; ``y_*`` int64 class indices.
    ``x_train`` is the whole training pool: :func:`train_validation_split` carves the
    validation set off its end. Equality is identity (comparing arrays elementwise
    in ``==`` would be slow and ambiguous).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def __post_init__(self) -> None:
        label = _quote(self.name)
        for xkey, ykey in (("x_train", "y_train"), ("x_test", "y_test")):
            x, y = getattr(self, xkey), getattr(self, ykey)
            if x.ndim != 2 or y.ndim != 1:
                raise _error(
                    label,
                    f"{xkey} must be 2-D and {ykey} 1-D, got shapes {x.shape} and {y.shape}",
                )
            _check_counts(label, xkey, ykey, x, y)
        _check_features(label, "x_train", self.x_train, "x_test", self.x_test)

    @property
    def num_classes(self) -> int:
        """Max label + 1 over train and test, i.e. the width of the output layer."""
        present = [y for y in (self.y_train, self.y_test) if y.size]
        return max(int(y.max()) for y in present) + 1 if present else 0

    @property
    def num_features(self) -> int:
        """Pixels per image (784 for MNIST), i.e. the width of the input layer."""
        return int(self.x_train.shape[1])


def load_dataset(source: str) -> Dataset:
    """Load ``source`` (``'mnist-mini'``, ``'mnist'`` or a path); see the module docstring.

    Paths may be ``.npz`` (keys ``x_train, y_train, x_test, y_test``; images
    ``(n, 28, 28)`` or ``(n, 784)``, uint8 0..255 or float in [0, 1]), Nielsen's
    ``.pkl.gz`` / ``.pkl`` (training pool = his train + validation), or an IDX
    directory. Integer images are scaled by 1/255; float images are kept as they are
    (so Nielsen's ``byte / 256`` values stay exact). Unpickling runs code from the
    file, so only pass pickles you trust. A file named like a built-in dataset can
    be loaded as ``./mnist``.

    Raises :class:`DataError` (one line naming the source and the problem) for any
    missing, unreadable or malformed source.
    """
    if source == _MNIST_MINI:
        return _load_embedded()
    if source == _MNIST:
        return _load_full_mnist()
    if not _looks_like_path(source) and not os.path.exists(source):
        raise _error(_quote(source), _UNKNOWN)
    return _load_path(source, name=source, label=_quote(source))


def train_validation_split(
    ds: Dataset, validation_split: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split the training pool into ``(x_tr, y_tr, x_val, y_val)``.

    The *last* ``round(n * validation_split)`` examples become validation: no
    shuffling, so every trial of a sweep sees the same split, and on Nielsen's pickle
    ``1/6`` reproduces his 50k / 10k exactly. ``validation_split`` must be in
    [0, 0.5]; 0 gives empty validation arrays. Returns read-only views, not copies.
    """
    if not 0.0 <= validation_split <= 0.5:  # also rejects NaN
        raise ValueError(f"validation_split must be in [0, 0.5], got {validation_split!r}")
    n = len(ds.y_train)
    cut = n - round(n * validation_split)
    return ds.x_train[:cut], ds.y_train[:cut], ds.x_train[cut:], ds.y_train[cut:]


# --------------------------------------------------------------------------- sources


def _load_embedded() -> Dataset:
    resource = importlib.resources.files("trainer.datasets").joinpath("mnist_mini.npz")
    with importlib.resources.as_file(resource) as path:
        return _load_path(str(path), name=_MNIST_MINI, label=_quote(_MNIST_MINI))


def _load_full_mnist() -> Dataset:
    env = os.environ.get(_MNIST_PATH_ENV)
    if env:
        label = f"{_quote(_MNIST)} ({_MNIST_PATH_ENV}={_quote(env)})"
        return _load_path(env, name=_MNIST, label=label)
    for cached in _keras_cache_candidates():
        if cached.is_file():
            label = f"{_quote(_MNIST)} (Keras cache {_quote(str(cached))})"
            return _load_path(str(cached), name=_MNIST, label=label)
    log.info("full MNIST not cached; downloading it with keras.datasets.mnist")
    try:
        (x_train, y_train), (x_test, y_test) = _download_mnist()
    except Exception as exc:
        raise _error(
            _quote(_MNIST),
            f"could not download full MNIST ({_describe(exc)}); "
            f"set {_MNIST_PATH_ENV} or pass a file path",
        ) from exc
    return _dataset(_MNIST, _quote(_MNIST), x_train, y_train, x_test, y_test)


def _keras_cache_candidates() -> list[Path]:
    """Where ``keras.datasets.mnist.load_data()`` keeps ``mnist.npz`` (mirrors Keras)."""
    if "KERAS_HOME" in os.environ:
        base = Path(os.environ["KERAS_HOME"]).expanduser()
    else:
        home = Path("~").expanduser()
        base = (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"
    candidates = [base / "datasets" / "mnist.npz"]
    if not os.access(base, os.W_OK):  # Keras falls back to /tmp/.keras then
        candidates.append(Path("/tmp/.keras/datasets/mnist.npz"))
    return candidates


def _download_mnist() -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """Download (or reuse) Keras' mnist.npz; imported lazily because Keras is slow to load."""
    import keras

    result: tuple[tuple[Any, Any], tuple[Any, Any]] = keras.datasets.mnist.load_data()
    return result


def _load_path(raw: str, name: str, label: str) -> Dataset:
    """Work out the format of ``raw`` and load it through the per-process cache."""
    path = Path(raw).expanduser()
    if not path.exists():
        raise _error(label, "file not found")
    path = path.resolve()
    if path.is_dir():
        kind = "idx"
        files = _find_idx_files(label, path)
    else:
        lowered = path.name.lower()
        if lowered.endswith(".npz"):
            kind = "npz"
        elif lowered.endswith((".pkl.gz", ".pkl")):
            kind = "pickle"
        else:
            suffix = "".join(path.suffixes[-2:]) or "(none)"
            raise _error(
                label,
                f"unsupported file type {suffix}; expected .npz, .pkl.gz, .pkl or an IDX directory",
            )
        files = (path,)
    try:
        stats = [(f, f.stat()) for f in files]
    except OSError as exc:
        raise _error(label, f"cannot read file ({_describe(exc)})") from exc
    fingerprint = tuple((str(f), st.st_mtime_ns, st.st_size) for f, st in stats)
    return _load_cached(kind, name, label, fingerprint)


@functools.lru_cache(maxsize=4)
def _load_cached(
    kind: str, name: str, label: str, fingerprint: tuple[tuple[str, int, int], ...]
) -> Dataset:
    """Parse the files; cached because sweeps reload the same data for every trial.

    ``fingerprint`` holds (path, mtime_ns, size) per file, so editing a file reloads it.
    """
    files = [Path(entry[0]) for entry in fingerprint]
    log.debug("loading dataset %s from %s", label, ", ".join(map(str, files)))
    if kind == "npz":
        arrays = _read_npz(label, files[0])
        return _dataset(name, label, *(arrays[k] for k in _NPZ_KEYS))
    if kind == "pickle":
        return _read_nielsen(name, label, files[0])
    x_train, y_train, x_test, y_test = (_read_idx(label, f) for f in files)
    return _dataset(name, label, x_train, y_train, x_test, y_test)


# --------------------------------------------------------------------------- formats


def _read_npz(label: str, path: Path) -> dict[str, np.ndarray]:
    if not zipfile.is_zipfile(path):
        raise _error(label, "not a valid .npz file (not a zip archive)")
    try:
        archive = np.load(path, allow_pickle=False)
    except MemoryError:
        raise
    except Exception as exc:  # zipfile/numpy raise many types for a damaged file
        raise _error(label, f"not a valid .npz file ({_describe(exc)})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise _error(label, "not a valid .npz file (holds a single array, not named arrays)")
    with archive:
        missing = [k for k in _NPZ_KEYS if k not in archive.files]
        if missing:
            keys = ", ".join(repr(k) for k in missing)
            raise _error(
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
                raise _error(
                    label, f"not a valid .npz file (cannot read {key!r}: {_describe(exc)})"
                ) from exc
    return arrays


def _read_nielsen(name: str, label: str, path: Path) -> Dataset:
    """Nielsen's ``((x_train, y_train), (x_val, y_val), (x_test, y_test))`` pickle.

    The training pool is his train + validation (MNIST's 60k training images, in order).
    """
    compressed = path.name.lower().endswith(".gz")
    try:
        with gzip.open(path, "rb") if compressed else open(path, "rb") as f:
            obj = pickle.load(f, encoding="latin1")
    except MemoryError:
        raise
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise _error(label, f"corrupt gzip data ({_describe(exc)})") from exc
    except EOFError as exc:
        raise _error(label, f"file is truncated ({_describe(exc)})") from exc
    except OSError as exc:
        raise _error(label, f"cannot read file ({_describe(exc)})") from exc
    except Exception as exc:  # unpickling can raise nearly anything
        raise _error(label, f"not a valid pickle ({_describe(exc)})") from exc
    if not (
        isinstance(obj, tuple | list)
        and len(obj) == 3
        and all(isinstance(p, tuple | list) and len(p) == 2 for p in obj)
    ):
        raise _error(
            label,
            "not a Nielsen-style MNIST pickle (expected (train, validation, test) "
            f"pairs of (images, labels), got {_summarise(obj)})",
        )
    (xt, yt), (xv, yv), (xs, ys) = obj
    x_tr, y_tr = _pair(label, "training images", "training labels", xt, yt)
    x_va, y_va = _pair(label, "validation images", "validation labels", xv, yv)
    x_te, y_te = _pair(label, "test images", "test labels", xs, ys)
    _check_features(label, "training images", x_tr, "validation images", x_va)
    return _frozen(name, np.concatenate([x_tr, x_va]), np.concatenate([y_tr, y_va]), x_te, y_te)


def _find_idx_files(label: str, directory: Path) -> tuple[Path, ...]:
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
        raise _error(label, f"not an IDX directory (missing {', '.join(missing)})")
    return tuple(found)


def _read_idx(label: str, path: Path) -> np.ndarray:
    """Parse one IDX file: 0x0000, type code, ndim, big-endian uint32 dims, then data."""
    try:
        if path.name.lower().endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise _error(label, f"{path.name}: corrupt gzip data ({_describe(exc)})") from exc
    except EOFError as exc:
        raise _error(label, f"{path.name}: gzip data is truncated ({_describe(exc)})") from exc
    except OSError as exc:
        raise _error(label, f"{path.name}: cannot read file ({_describe(exc)})") from exc
    if len(data) < 4:
        raise _error(label, f"{path.name}: truncated IDX file ({len(data)} bytes, no header)")
    if data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise _error(label, f"{path.name}: not an IDX file (bad magic number 0x{data[:4].hex()})")
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    start = 4 + 4 * ndim
    if len(data) < start:
        raise _error(label, f"{path.name}: truncated IDX file (header cut short)")
    dims = struct.unpack(f">{ndim}I", data[4:start])
    count = math.prod(dims)
    expected, actual = count * dtype.itemsize, len(data) - start
    if actual < expected:
        raise _error(
            label,
            f"{path.name}: truncated IDX file (shape {dims} needs {expected} data bytes, "
            f"found {actual})",
        )
    if actual > expected:
        raise _error(
            label, f"{path.name}: {actual - expected} unexpected bytes after IDX data {dims}"
        )
    array = np.frombuffer(data, dtype=dtype, count=count, offset=start).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


# --------------------------------------------------------------------------- checks


def _dataset(
    name: str, label: str, x_train: Any, y_train: Any, x_test: Any, y_test: Any
) -> Dataset:
    x_tr, y_tr = _pair(label, "x_train", "y_train", x_train, y_train)
    x_te, y_te = _pair(label, "x_test", "y_test", x_test, y_test)
    return _frozen(name, x_tr, y_tr, x_te, y_te)


def _frozen(
    name: str, x_tr: FloatArray, y_tr: IntArray, x_te: FloatArray, y_te: IntArray
) -> Dataset:
    for array in (x_tr, y_tr, x_te, y_te):
        array.flags.writeable = False
    return Dataset(name=name, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)


def _pair(
    label: str, xkey: str, ykey: str, images: Any, labels: Any
) -> tuple[FloatArray, IntArray]:
    x = _images(label, xkey, images)
    y = _labels(label, ykey, labels)
    _check_counts(label, xkey, ykey, x, y)
    return x, y


def _images(label: str, key: str, raw: Any) -> FloatArray:
    """Flatten to ``(n, features)`` float32 in [0, 1]: integers / 255, floats kept."""
    arr = _numeric(label, key, raw)
    if arr.ndim < 2 or arr.shape[0] == 0 or math.prod(arr.shape[1:]) == 0:
        raise _error(
            label,
            f"{key} must hold one image per row, e.g. (n, 784) or (n, 28, 28), got {arr.shape}",
        )
    flat = arr.reshape(arr.shape[0], math.prod(arr.shape[1:]))
    low, high = flat.min(), flat.max()
    if arr.dtype.kind in "iu":
        if low < 0 or high > 255:
            raise _error(label, f"{key}: integer pixels must be in 0..255, found {low}..{high}")
        out = flat.astype(np.float32)
        out /= np.float32(255)
        return out
    if not (low >= 0 and high <= 1):  # NaN fails both comparisons
        raise _error(
            label,
            f"{key}: float pixels must be in [0, 1], found {low:g}..{high:g} "
            "(store uint8 0..255 or floats in [0, 1])",
        )
    # float32 already (Nielsen's pickle): no copy of the freshly loaded array (220 MB and
    # a third of a second on full MNIST; the Dataset makes it read-only anyway)
    return flat.astype(np.float32, copy=False)


def _labels(label: str, key: str, raw: Any) -> IntArray:
    """Class indices as int64 ``(n,)``; whole-number floats are accepted."""
    arr = _numeric(label, key, raw)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise _error(
            label, f"{key} must be a non-empty 1-D array of class indices, got shape {arr.shape}"
        )
    if arr.dtype.kind == "f":
        bad = arr[~np.isfinite(arr) | (arr != np.round(arr))]
        if bad.size:
            raise _error(label, f"{key}: labels must be whole numbers, found {bad[0]:g}")
    low, high = arr.min(), arr.max()
    if low < 0 or high >= _MAX_CLASSES:
        value = low if low < 0 else high
        raise _error(label, f"{key}: labels must be in 0..{_MAX_CLASSES - 1}, found {value:g}")
    return arr.astype(np.int64)


def _numeric(label: str, key: str, raw: Any) -> np.ndarray:
    try:
        arr = np.asarray(raw)
    except (ValueError, TypeError) as exc:  # ragged lists and the like, from pickles
        raise _error(label, f"{key} is not an array ({_describe(exc)})") from exc
    if arr.dtype.kind not in "iuf":
        raise _error(label, f"{key} must be a numeric array, got dtype {arr.dtype}")
    return arr


def _check_counts(label: str, xkey: str, ykey: str, x: np.ndarray, y: np.ndarray) -> None:
    if len(x) != len(y):
        raise _error(label, f"{xkey} has {len(x)} images but {ykey} has {len(y)} labels")


def _check_features(label: str, key_a: str, x_a: np.ndarray, key_b: str, x_b: np.ndarray) -> None:
    if x_a.shape[1:] != x_b.shape[1:]:
        raise _error(
            label,
            f"images differ in size: {key_a} has {x_a.shape[1]} features, "
            f"{key_b} has {x_b.shape[1]}",
        )


# --------------------------------------------------------------------------- messages


def _looks_like_path(source: str) -> bool:
    separators = {"/", os.sep, os.altsep or "/"}
    return (
        any(s in source for s in separators)
        or source.startswith(("~", "."))
        or source.lower().endswith(_PATH_SUFFIXES)
    )


def _quote(text: str) -> str:
    return f"'{text}'"


def _error(label: str, problem: str) -> DataError:
    """``dataset <label>: <problem>`` on one line, whatever the problem text holds."""
    message = f"dataset {label}: {problem}"
    return DataError(message.replace("\r", "\\r").replace("\n", "\\n"))


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _summarise(obj: object) -> str:
    if isinstance(obj, tuple | list):
        return f"a {type(obj).__name__} of length {len(obj)}"
    return f"a {type(obj).__name__}"
