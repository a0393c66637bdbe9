"""Tables as datasets: CSV and Parquet files (and ``.npy``/``.npz`` arrays, and arrays or
a DataFrame from Python) with feature columns and a label column.

Files are read by pyarrow in record batches written straight into one growing float32
matrix, so a table costs about its float32 size in memory, not its float64 size plus
copies. Labels, of any type, become class indices in sorted order (numbers numerically,
else as text); the original values are kept on the :class:`~trainer.data.Dataset`
(``classes``) so predictions map back. Without a test file, ``test_split`` of each class
is held out (stratified); rows are shuffled once with a fixed seed, so the validation set
carved off the training pool's end is a random sample and every trial sees the same split.

Every problem is one :class:`~trainer.data_arrays.DataError` line naming the source: a
missing label column, a non-numeric feature column, NaN/inf features, one class only,
too few rows.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from trainer.data_arrays import MAX_CLASSES, FloatArray, IntArray, data_error, describe

TABLE_SUFFIXES: Final = (".csv", ".parquet", ".pq", ".npy")
"""Files read as tables (``.npz`` too, when it holds ``x`` and ``y``)."""
SPLIT_SEED: Final = 0
"""Seeds the one shuffle and the stratified test split: the same data for every trial."""
DEFAULT_LABEL: Final = "label"
_BATCH_BYTES: Final = 1 << 20
"""CSV blocks of 1 MB: faster than 16 MB on 2 cores, and the reader holds far less at once
(a 1M x 50 CSV: +250 MB at its peak against +550 MB)."""


def read_table(
    label: str, path: Path, column: str
) -> tuple[FloatArray, np.ndarray, tuple[str, ...]]:
    """``(features, raw labels, feature names)`` of a table file; ``column``: the label
    column (``''``: ``label``; for ``.npy`` a column index, ``''`` the last)."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _npy(label, path, column)
    if suffix == ".npz":
        return _npz_xy(label, path)
    names = _csv_header(label, path) if suffix == ".csv" else _parquet_names(label, path)
    target = column or DEFAULT_LABEL
    if target not in names:
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise data_error(label, f"label column '{target}' not found; columns: {shown}")
    features = tuple(n for n in names if n != target)
    if not features:
        raise data_error(label, f"no feature columns besides the label column '{target}'")
    if suffix == ".csv":
        batches = _csv_batches(label, path, names, target)
    else:
        batches = _parquet_batches(label, path, [*features, target])
    x, y = _fill(label, batches, features, target, path.stat().st_size)
    return x, y, features


def frame_arrays(
    label: str, frame: Any, column: str
) -> tuple[FloatArray, np.ndarray, tuple[str, ...]]:
    """The same from a pandas DataFrame (``column``: its label column)."""
    target = column or DEFAULT_LABEL
    if target not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:20]))
        raise data_error(label, f"label column '{target}' not found; columns: {shown}")
    features = tuple(str(c) for c in frame.columns if c != target)
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    for name in features:
        values = frame[name]
        if not (is_numeric_dtype(values) or is_bool_dtype(values)):
            raise _not_numeric(label, name, str(values.dtype))
    x = np.ascontiguousarray(frame[list(features)].to_numpy(dtype=np.float32))
    check_finite(label, x, features)
    return x, frame[target].to_numpy(), features


def check_finite(label: str, x: np.ndarray, features: Sequence[str]) -> None:
    """No NaN or inf among the features: how many, and the first column holding one."""
    bad = ~np.isfinite(x)
    if bad.any():
        counts = bad.sum(axis=0)
        first = int(np.flatnonzero(counts)[0])
        raise data_error(
            label,
            f"{int(counts.sum())} NaN/inf feature value(s), first in column "
            f"'{features[first]}' ({int(counts[first])} there); fill or drop those rows",
        )


def encode_labels(label: str, *raw: np.ndarray) -> tuple[list[IntArray], tuple[Any, ...]]:
    """Class indices for each of ``raw`` (train, and test when given) over their union,
    and the classes in index order (numbers sorted numerically, else as text).

    Hashed (``pandas.factorize``), then only the distinct values are sorted: a million
    text labels take milliseconds, not the seconds of sorting them all."""
    import pandas as pd

    values = [np.asarray(r) for r in raw]
    if any(v.dtype.kind == "f" and not np.isfinite(v).all() for v in values):
        raise data_error(label, "the label column has missing (NaN) values")
    text = any(v.dtype.kind in "OUS" for v in values)
    joined = np.concatenate([v.astype(str) if text else v for v in values])
    codes, uniques = pd.factorize(joined)
    keys = _as_numbers_if_all(np.asarray(uniques).astype(str)) if text else np.asarray(uniques)
    order = np.argsort(keys, kind="stable")
    rank = np.empty(len(order), np.int64)
    rank[order] = np.arange(len(order))
    classes = keys[order]
    if len(classes) < 2:
        only = classes[0].item() if hasattr(classes[0], "item") else classes[0]
        raise data_error(label, f"one class only ({only!r}): nothing to classify")
    if len(classes) > MAX_CLASSES:
        raise data_error(
            label, f"{len(classes)} classes (more than {MAX_CLASSES}): is the label column right?"
        )
    ranked = rank[codes]
    bounds = np.cumsum([len(v) for v in values])[:-1]
    return list(np.split(ranked, bounds)), tuple(
        c.item() if hasattr(c, "item") else c for c in classes
    )


def stratified_split(y: IntArray, fraction: float, seed: int = SPLIT_SEED) -> tuple[Any, Any]:
    """``(train rows, test rows)``: ``fraction`` of each class (at least one row of a
    class with two or more) held out, both shuffled with ``seed``."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        k = round(len(rows) * fraction)
        k = min(max(k, 1 if len(rows) > 1 else 0), len(rows) - 1)
        test.append(rows[:k])
        train.append(rows[k:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


# -------------------------------------------------------------------------------- readers


def _csv_header(label: str, path: Path) -> tuple[str, ...]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError) as exc:
        raise data_error(label, f"cannot read the CSV header ({describe(exc)})") from exc
    if not header:
        raise data_error(label, "empty CSV file (no header row)")
    return tuple(h.strip() for h in header)


def _parquet_names(label: str, path: Path) -> tuple[str, ...]:
    import pyarrow.parquet as pq

    try:
        return tuple(pq.read_schema(path).names)
    except Exception as exc:
        raise data_error(label, f"not a valid Parquet file ({describe(exc)})") from exc


def _csv_batches(label: str, path: Path, names: Sequence[str], target: str) -> Iterator[Any]:
    import pyarrow as pa
    from pyarrow import csv as pacsv

    types = {name: pa.float32() for name in names if name != target} | {target: pa.string()}
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True)
    try:
        reader = pacsv.open_csv(
            path, read_options=pacsv.ReadOptions(block_size=_BATCH_BYTES), convert_options=convert
        )
        yield from reader
    except pa.ArrowInvalid as exc:
        raise _csv_problem(label, str(exc), names) from exc


def _csv_problem(label: str, text: str, names: Sequence[str]) -> Exception:
    """pyarrow's conversion error as ours: which column is not numeric, with a value."""
    import re

    text = " ".join(text.split())
    found = re.search(
        r"CSV column #(\d+): CSV conversion error to float: invalid value (.*)$", text
    )
    if found and int(found.group(1)) < len(names):
        return _not_numeric(label, names[int(found.group(1))], f"e.g. {found.group(2)[:40]}")
    return data_error(label, f"cannot parse the CSV ({text[:200]})")


def _parquet_batches(label: str, path: Path, columns: list[str]) -> Iterator[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    for name in columns[:-1]:
        kind = schema.field(name).type
        if not (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        ):
            raise _not_numeric(label, name, str(kind))
    yield from pq.ParquetFile(path).iter_batches(batch_size=65536, columns=columns)


def _fill(
    label: str, batches: Iterator[Any], features: Sequence[str], target: str, size: int
) -> tuple[FloatArray, np.ndarray]:
    """Record batches -> one float32 matrix grown in place (no float64 copy, no
    concatenation of blocks) and the label column."""
    x: FloatArray = np.empty((0, len(features)), np.float32)
    labels: list[np.ndarray] = []
    n = 0
    for batch in batches:
        rows = batch.num_rows
        if n + rows > len(x):  # first batch: guess the row count from the file's size
            guess = int(size / max(batch.nbytes / max(rows, 1), 1) * 1.05) if n == 0 else 0
            grown = np.empty((max(n + rows, guess, 2 * len(x)), len(features)), np.float32)
            grown[:n] = x[:n]
            x = grown
        for j, name in enumerate(features):
            x[n : n + rows, j] = batch.column(name).to_numpy(zero_copy_only=False)
        labels.append(_label_values(label, batch.column(target)))
        n += rows
    if n == 0:
        raise data_error(label, "no data rows")
    if len(x) != n:  # give the slack back in place (a view of it would pin it)
        x.resize((n, len(features)), refcheck=False)
    check_finite(label, x, features)
    return x, np.concatenate(labels)


def _label_values(label: str, column: Any) -> np.ndarray:
    """A batch's labels as a NumPy array; text through its few distinct values (no Python
    string object per row)."""
    import pyarrow as pa

    if column.null_count:
        raise data_error(label, f"the label column has {column.null_count} empty value(s)")
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        encoded = column.dictionary_encode()
        distinct = np.asarray(encoded.dictionary.to_pylist(), dtype=str)
        return distinct[encoded.indices.to_numpy()]
    return np.asarray(column.to_numpy(zero_copy_only=False))


def _npy(label: str, path: Path, column: str) -> tuple[FloatArray, np.ndarray, tuple[str, ...]]:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise data_error(label, f"not a valid .npy file ({describe(exc)})") from exc
    if arr.ndim != 2 or arr.shape[1] < 2 or arr.dtype.kind not in "iufb":
        raise data_error(
            label,
            f".npy must be a numeric (rows, features + label) array, got {arr.shape} {arr.dtype}",
        )
    if column and not column.lstrip("-").isdigit():
        raise data_error(label, f"label: a .npy table takes a column index, got '{column}'")
    at = int(column) if column else arr.shape[1] - 1
    if not -arr.shape[1] <= at < arr.shape[1]:
        raise data_error(label, f"label column {at} out of range for {arr.shape[1]} columns")
    at %= arr.shape[1]
    names = tuple(f"c{j}" for j in range(arr.shape[1]) if j != at)
    x = np.ascontiguousarray(np.delete(arr, at, axis=1), dtype=np.float32)
    check_finite(label, x, names)
    return x, arr[:, at], names


def _npz_xy(label: str, path: Path) -> tuple[FloatArray, np.ndarray, tuple[str, ...]]:
    with np.load(path, allow_pickle=False) as z:
        x, y = np.asarray(z["x"]), np.asarray(z["y"])
    if x.ndim != 2 or x.dtype.kind not in "iufb":
        raise data_error(
            label, f"x must be a numeric (rows, features) array, got {x.shape} {x.dtype}"
        )
    names = tuple(f"x{j}" for j in range(x.shape[1]))
    out = np.ascontiguousarray(x, dtype=np.float32)
    check_finite(label, out, names)
    return out, y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y, names


def _as_numbers_if_all(values: np.ndarray) -> np.ndarray:
    """Text labels that are all numbers (``'3'``, ``'7.0'``) as numbers, to sort as such."""
    try:
        numbers = values.astype(np.float64)
    except ValueError:
        return values
    whole = np.all(numbers == np.round(numbers))
    return numbers.astype(np.int64) if whole else numbers


def _not_numeric(label: str, name: str, kind: str) -> Exception:
    return data_error(
        label, f"feature column '{name}' is not numeric ({kind}); drop it, or encode it as numbers"
    )
