"""Raw arrays -> checked dataset arrays, and the one-line :class:`DataError`.

Whatever a file held becomes images ``float32 (n, features)`` in [0, 1] and labels
``int64 (n,)``, or a :class:`DataError` of one line naming the source and the problem
(``dataset 'x.npz': ...``)."""

from __future__ import annotations

import math
from typing import Any, Final

import numpy as np
import numpy.typing as npt

# A label column of garbage would otherwise silently build a huge softmax layer.
MAX_CLASSES: Final = 1000

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


class DataError(ValueError):
    """One-line, user-facing problem with a data source (missing file, bad format)."""


def data_error(label: str, problem: str) -> DataError:
    """``dataset <label>: <problem>`` on one line, whatever the problem text holds."""
    message = f"dataset {label}: {problem}"
    return DataError(message.replace("\r", "\\r").replace("\n", "\\n"))


def quote(text: str) -> str:
    """A source name as messages show it: ``'mnist'``."""
    return f"'{text}'"


def describe(exc: BaseException) -> str:
    """An exception as ``Type: message`` on one line of at most 200 characters of message."""
    text = " ".join(str(exc).split())
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def pair(label: str, xkey: str, ykey: str, images: Any, labels: Any) -> tuple[FloatArray, IntArray]:
    """Checked ``(images, labels)`` of one split, as many labels as images."""
    x = _images(label, xkey, images)
    y = _labels(label, ykey, labels)
    check_counts(label, xkey, ykey, x, y)
    return x, y


def check_counts(label: str, xkey: str, ykey: str, x: np.ndarray, y: np.ndarray) -> None:
    """One label per image."""
    if len(x) != len(y):
        raise data_error(label, f"{xkey} has {len(x)} images but {ykey} has {len(y)} labels")


def check_features(label: str, key_a: str, x_a: np.ndarray, key_b: str, x_b: np.ndarray) -> None:
    """Two sets of images of the same size."""
    if x_a.shape[1:] != x_b.shape[1:]:
        raise data_error(
            label,
            f"images differ in size: {key_a} has {x_a.shape[1]} features, "
            f"{key_b} has {x_b.shape[1]}",
        )


def _images(label: str, key: str, raw: Any) -> FloatArray:
    """Flatten to ``(n, features)`` float32 in [0, 1]: integers / 255, floats kept."""
    arr = _numeric(label, key, raw)
    if arr.ndim < 2 or arr.shape[0] == 0 or math.prod(arr.shape[1:]) == 0:
        raise data_error(
            label,
            f"{key} must hold one image per row, e.g. (n, 784) or (n, 28, 28), got {arr.shape}",
        )
    flat = arr.reshape(arr.shape[0], math.prod(arr.shape[1:]))
    low, high = flat.min(), flat.max()
    if arr.dtype.kind in "iu":
        if low < 0 or high > 255:
            raise data_error(label, f"{key}: integer pixels must be in 0..255, found {low}..{high}")
        out = flat.astype(np.float32)
        out /= np.float32(255)
        return out
    if not (low >= 0 and high <= 1):  # NaN fails both comparisons
        raise data_error(
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
        raise data_error(
            label, f"{key} must be a non-empty 1-D array of class indices, got shape {arr.shape}"
        )
    if arr.dtype.kind == "f":
        bad = arr[~np.isfinite(arr) | (arr != np.round(arr))]
        if bad.size:
            raise data_error(label, f"{key}: labels must be whole numbers, found {bad[0]:g}")
    low, high = arr.min(), arr.max()
    if low < 0 or high >= MAX_CLASSES:
        value = low if low < 0 else high
        raise data_error(label, f"{key}: labels must be in 0..{MAX_CLASSES - 1}, found {value:g}")
    return arr.astype(np.int64)


def _numeric(label: str, key: str, raw: Any) -> np.ndarray:
    try:
        arr = np.asarray(raw)
    except (ValueError, TypeError) as exc:  # ragged lists and the like, from pickles
        raise data_error(label, f"{key} is not an array ({describe(exc)})") from exc
    if arr.dtype.kind not in "iuf":
        raise data_error(label, f"{key} must be a numeric array, got dtype {arr.dtype}")
    return arr
