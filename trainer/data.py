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

This module is the way in (the sources and the cache); the file formats are read by
:mod:`trainer.data_formats` and the arrays checked by :mod:`trainer.data_arrays`.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.resources
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from trainer.data_arrays import (
    DataError,
    FloatArray,
    IntArray,
    check_counts,
    check_features,
    data_error,
    describe,
    pair,
    quote,
)
from trainer.data_formats import find_idx_files, read_idx, read_nielsen, read_npz
from trainer.data_tables import (
    SPLIT_SEED,
    TABLE_SUFFIXES,
    check_finite,
    encode_labels,
    frame_arrays,
    read_table,
    stratified_split,
)

__all__ = [
    "DataError",
    "Dataset",
    "load_dataset",
    "register_arrays",
    "train_size",
    "train_validation_split",
]

log = logging.getLogger(__name__)

_MNIST_MINI: Final = "mnist-mini"
_MNIST: Final = "mnist"
_MNIST_PATH_ENV: Final = "SWEEPS_MNIST_PATH"
_PATH_SUFFIXES: Final = (".npz", ".pkl", ".pkl.gz", ".gz", *TABLE_SUFFIXES)
_MEMORY_PREFIX: Final = "memory:"
_UNKNOWN: Final = (
    "unknown dataset; expected 'mnist-mini', 'mnist' or a path to .npz, .pkl.gz or an IDX directory"
)


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
    classes: tuple[Any, ...] = ()
    """A table's label values in class-index order (``()``: the indices are the labels)."""
    features: tuple[str, ...] = ()
    """A table's feature column names (``()``: pixels)."""
    scaling: tuple[np.ndarray, np.ndarray] | None = None
    """``(offset, factor)`` applied to the features (``(x - offset) * factor``), computed
    on the training split (see :mod:`trainer.inputs`); ``None``: as loaded."""

    def __post_init__(self) -> None:
        label = quote(self.name)
        for xkey, ykey in (("x_train", "y_train"), ("x_test", "y_test")):
            x, y = getattr(self, xkey), getattr(self, ykey)
            if x.ndim != 2 or y.ndim != 1:
                raise data_error(
                    label,
                    f"{xkey} must be 2-D and {ykey} 1-D, got shapes {x.shape} and {y.shape}",
                )
            check_counts(label, xkey, ykey, x, y)
        check_features(label, "x_train", self.x_train, "x_test", self.x_test)

    @property
    def num_classes(self) -> int:
        """Max label + 1 over train and test, i.e. the width of the output layer."""
        if self.classes:
            return len(self.classes)
        present = [y for y in (self.y_train, self.y_test) if y.size]
        return max(int(y.max()) for y in present) + 1 if present else 0

    @property
    def num_features(self) -> int:
        """Pixels per image (784 for MNIST), i.e. the width of the input layer."""
        return int(self.x_train.shape[1])


def load_dataset(
    source: str, *, label: str = "", test: str = "", test_split: float = 0.2
) -> Dataset:
    """Load ``source`` (``'mnist-mini'``, ``'mnist'`` or a path); see the module docstring.

    Paths may be ``.npz`` (keys ``x_train, y_train, x_test, y_test``; images
    ``(n, 28, 28)`` or ``(n, 784)``, uint8 0..255 or float in [0, 1]), Nielsen's
    ``.pkl.gz`` / ``.pkl`` (training pool = his train + validation), or an IDX
    directory. Integer images are scaled by 1/255; float images are kept as they are
    (so Nielsen's ``byte / 256`` values stay exact). Unpickling runs code from the
    file, so only pass pickles you trust. A file named like a built-in dataset can
    be loaded as ``./mnist``.

    A table (``.csv``, ``.parquet``, ``.npy``, an ``.npz`` of ``x`` and ``y``, or arrays
    from :func:`register_arrays`) takes its ``label`` column and its ``test`` file or
    ``test_split`` (see :mod:`trainer.data_tables`).

    Raises :class:`DataError` (one line naming the source and the problem) for any
    missing, unreadable or malformed source.
    """
    if source.startswith(_MEMORY_PREFIX):
        return _load_memory(source, label, test_split)
    if _is_table(source):
        return _load_table(source, label, test, test_split)
    if source == _MNIST_MINI:
        return _load_embedded()
    if source == _MNIST:
        return _load_full_mnist()
    if not _looks_like_path(source) and not os.path.exists(source):
        raise data_error(quote(source), _UNKNOWN)
    return _load_path(source, name=source, label=quote(source))


def train_validation_split(
    ds: Dataset, validation_split: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split the training pool into ``(x_tr, y_tr, x_val, y_val)``.

    The *last* ``round(n * validation_split)`` examples become validation: no
    shuffling, so every trial of a sweep sees the same split, and on Nielsen's pickle
    ``1/6`` reproduces his 50k / 10k exactly. ``validation_split`` must be in
    [0, 0.5]; 0 gives empty validation arrays. Returns read-only views, not copies.
    """
    cut = train_size(ds, validation_split)
    return ds.x_train[:cut], ds.y_train[:cut], ds.x_train[cut:], ds.y_train[cut:]


def train_size(ds: Dataset, validation_split: float) -> int:
    """The number of training examples :func:`train_validation_split` leaves."""
    if not 0.0 <= validation_split <= 0.5:  # also rejects NaN
        raise ValueError(f"validation_split must be in [0, 0.5], got {validation_split!r}")
    n = len(ds.y_train)
    return n - round(n * validation_split)


# --------------------------------------------------------------------------- sources


def _load_embedded() -> Dataset:
    resource = importlib.resources.files("trainer.datasets").joinpath("mnist_mini.npz")
    with importlib.resources.as_file(resource) as path:
        return _load_path(str(path), name=_MNIST_MINI, label=quote(_MNIST_MINI))


def _load_full_mnist() -> Dataset:
    env = os.environ.get(_MNIST_PATH_ENV)
    if env:
        label = f"{quote(_MNIST)} ({_MNIST_PATH_ENV}={quote(env)})"
        return _load_path(env, name=_MNIST, label=label)
    for cached in _keras_cache_candidates():
        if cached.is_file():
            label = f"{quote(_MNIST)} (Keras cache {quote(str(cached))})"
            return _load_path(str(cached), name=_MNIST, label=label)
    log.info("full MNIST not cached; downloading it with keras.datasets.mnist")
    try:
        (x_train, y_train), (x_test, y_test) = _download_mnist()
    except Exception as exc:
        raise data_error(
            quote(_MNIST),
            f"could not download full MNIST ({describe(exc)}); "
            f"set {_MNIST_PATH_ENV} or pass a file path",
        ) from exc
    return _dataset(_MNIST, quote(_MNIST), x_train, y_train, x_test, y_test)


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
        raise data_error(label, "file not found")
    path = path.resolve()
    if path.is_dir():
        kind = "idx"
        files = find_idx_files(label, path)
    else:
        lowered = path.name.lower()
        if lowered.endswith(".npz"):
            kind = "npz"
        elif lowered.endswith((".pkl.gz", ".pkl")):
            kind = "pickle"
        else:
            suffix = "".join(path.suffixes[-2:]) or "(none)"
            raise data_error(
                label,
                f"unsupported file type {suffix}; expected .npz, .pkl.gz, .pkl, an IDX "
                "directory, or a table (.csv, .parquet, .npy)",
            )
        files = (path,)
    try:
        stats = [(f, f.stat()) for f in files]
    except OSError as exc:
        raise data_error(label, f"cannot read file ({describe(exc)})") from exc
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
        return _dataset(name, label, *read_npz(label, files[0]))
    if kind == "pickle":
        return _frozen(name, *read_nielsen(label, files[0]))
    x_train, y_train, x_test, y_test = (read_idx(label, f) for f in files)
    return _dataset(name, label, x_train, y_train, x_test, y_test)


# --------------------------------------------------------------------------- datasets


def _dataset(
    name: str, label: str, x_train: Any, y_train: Any, x_test: Any, y_test: Any
) -> Dataset:
    x_tr, y_tr = pair(label, "x_train", "y_train", x_train, y_train)
    x_te, y_te = pair(label, "x_test", "y_test", x_test, y_test)
    return _frozen(name, x_tr, y_tr, x_te, y_te)


def _frozen(
    name: str, x_tr: FloatArray, y_tr: IntArray, x_te: FloatArray, y_te: IntArray
) -> Dataset:
    for array in (x_tr, y_tr, x_te, y_te):
        array.flags.writeable = False
    return Dataset(name=name, x_train=x_tr, y_train=y_tr, x_test=x_te, y_test=y_te)


def _looks_like_path(source: str) -> bool:
    separators = {"/", os.sep, os.altsep or "/"}
    return (
        any(s in source for s in separators)
        or source.startswith(("~", "."))
        or source.lower().endswith(_PATH_SUFFIXES)
    )


# --------------------------------------------------------------------------- tables


def register_arrays(data: Any, labels: Any = None, *, label: str = "") -> str:
    """Arrays (``x``, ``y``) or a pandas DataFrame (``label`` its label column) from
    Python, as a source a config can name (``memory:<digest>``, this process only)."""
    import hashlib

    if labels is None:
        x, y, features = frame_arrays("'DataFrame'", data, label)
    else:
        x = np.ascontiguousarray(np.asarray(data, dtype=np.float32))
        y = np.asarray(labels)
        if x.ndim != 2 or len(x) != len(y):
            raise data_error(
                "'arrays'",
                f"x must be (rows, features) with one label per row, got {x.shape} and {y.shape}",
            )
        features = tuple(f"x{j}" for j in range(x.shape[1]))
        check_finite("'arrays'", x, features)
    digest = hashlib.sha256(x.tobytes() + np.asarray(y).astype(str).tobytes()).hexdigest()[:12]
    source = f"{_MEMORY_PREFIX}{digest}"
    _MEMORY[source] = (x, y, features)
    return source


_MEMORY: dict[str, tuple[np.ndarray, np.ndarray, tuple[str, ...]]] = {}


def _load_memory(source: str, label: str, test_split: float) -> Dataset:
    if source not in _MEMORY:
        raise data_error(quote(source), "arrays not registered in this process (register_arrays)")
    x, y, features = _MEMORY[source]
    return _table_dataset(source, quote(source), [x, y, features], None, test_split)


def _is_table(source: str) -> bool:
    lowered = source.lower()
    if lowered.endswith(TABLE_SUFFIXES):
        return True
    if lowered.endswith(".npz") and os.path.isfile(source):
        st = os.stat(source)  # the archive is opened once per version of the file
        return _npz_holds_xy(os.path.realpath(source), st.st_mtime_ns, st.st_size)
    return False


@functools.lru_cache(maxsize=16)
def _npz_holds_xy(path: str, mtime_ns: int, size: int) -> bool:
    """An ``.npz`` of ``x`` and ``y`` (a table), not Keras' MNIST layout."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return "x" in z.files and "x_train" not in z.files
    except Exception:
        return False  # the MNIST reader says what is wrong with it


def _load_table(source: str, column: str, test: str, test_split: float) -> Dataset:
    files = [Path(source).expanduser()] + ([Path(test).expanduser()] if test else [])
    for f in files:
        if not f.is_file():
            raise data_error(quote(str(f)), "file not found")
    fingerprint = tuple((str(f.resolve()), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    return _table_cached(source, column, test_split, fingerprint)


@functools.lru_cache(maxsize=4)
def _table_cached(
    source: str, column: str, test_split: float, fingerprint: tuple[tuple[str, int, int], ...]
) -> Dataset:
    label = quote(source)
    table = list(read_table(label, Path(fingerprint[0][0]), column))
    held = None
    if len(fingerprint) > 1:
        test_label = quote(fingerprint[1][0])
        x_te, y_te, test_features = read_table(test_label, Path(fingerprint[1][0]), column)
        if test_features != table[2]:
            raise data_error(
                test_label,
                f"test columns differ from the training file's: {', '.join(test_features)}",
            )
        held = (x_te, y_te)
    return _table_dataset(source, label, table, held, test_split)


def _table_dataset(
    name: str,
    label: str,
    table: list[Any],
    held: tuple[np.ndarray, np.ndarray] | None,
    test_split: float,
) -> Dataset:
    """Labels encoded, rows shuffled once (seeded) and, without a test file, a
    stratified test split held out. ``table`` is ``[x, raw labels, feature names]``,
    emptied here so the unsplit matrix is freed as soon as it is split."""
    x, y_raw, features = table
    table.clear()
    rng = np.random.default_rng(SPLIT_SEED)
    if held is not None:
        (y, y_te), classes = encode_labels(label, y_raw, held[1])
        order = rng.permutation(len(y))
        x_tr, y_tr, x_te = x[order], y[order], held[0]
    else:
        (y,), classes = encode_labels(label, y_raw)
        if len(y) < 4:
            raise data_error(label, f"{len(y)} rows: too few to hold out a test set and train")
        train_rows, test_rows = stratified_split(y, test_split)
        x_te, y_te, y_tr = x[test_rows], y[test_rows], y[train_rows]
        x_tr = x[train_rows]
    del x  # the caller holds no reference: the unsplit matrix goes now
    out = _frozen(name, x_tr, y_tr, x_te, y_te)
    return dataclasses.replace(out, classes=classes, features=features)
