"""Build ``mnist_mini.npz``, the embedded MNIST subset, from Nielsen's ``mnist.pkl.gz``.

Usage::

    python -m trainer.datasets._build_mnist_mini SRC [--out PATH]

``SRC`` is the gzip'd pickle from Michael Nielsen's *Neural Networks and Deep
Learning* (three ``(images, labels)`` pairs; images float32 ``byte / 256``). The
output keeps the first 10,000 training and first 2,000 test images as uint8 bytes,
recovered exactly as ``round(x * 256)``, so the file stays small (~2-3 MB) and
lossless; ``trainer.data`` scales it back to [0, 1] on load.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges (CC BY-SA 3.0).
"""

from __future__ import annotations

import argparse
import gzip
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

N_TRAIN = 10_000
N_TEST = 2_000
DEFAULT_OUT = Path(__file__).with_name("mnist_mini.npz")


def to_bytes(images: Any, what: str) -> npt.NDArray[np.uint8]:
    """Undo Nielsen's ``byte / 256`` exactly; refuse anything that is not such a value."""
    scaled = np.asarray(images, dtype=np.float64) * 256.0
    rounded = np.rint(scaled)
    if scaled.size and (rounded.min() < 0 or rounded.max() > 255):
        raise ValueError(f"{what}: values outside [0, 255/256]; not Nielsen's byte/256 images")
    if not np.array_equal(rounded, scaled):
        worst = float(np.abs(rounded - scaled).max())
        raise ValueError(f"{what}: values are not exact multiples of 1/256 (off by {worst:g})")
    return rounded.astype(np.uint8)


def to_labels(labels: Any, what: str) -> npt.NDArray[np.uint8]:
    """Digit labels as uint8; refuse anything outside 0..255 or non-integer."""
    arr = np.asarray(labels)
    if arr.dtype.kind not in "iu" or (arr.size and (arr.min() < 0 or arr.max() > 255)):
        raise ValueError(f"{what}: expected integer labels in 0..255, got dtype {arr.dtype}")
    return arr.astype(np.uint8)


def build(
    src: Path, out: Path = DEFAULT_OUT, n_train: int = N_TRAIN, n_test: int = N_TEST
) -> dict[str, npt.NDArray[np.uint8]]:
    """Write the first ``n_train`` / ``n_test`` images of ``src`` to ``out``; return the arrays."""
    with gzip.open(src, "rb") as f:
        (x_tr, y_tr), _validation, (x_te, y_te) = pickle.load(f, encoding="latin1")
    if len(x_tr) < n_train or len(x_te) < n_test:
        raise ValueError(
            f"{src}: need {n_train} training and {n_test} test images, "
            f"found {len(x_tr)} and {len(x_te)}"
        )
    arrays = {
        "x_train": to_bytes(np.asarray(x_tr[:n_train]).reshape(n_train, -1), "x_train"),
        "y_train": to_labels(y_tr[:n_train], "y_train"),
        "x_test": to_bytes(np.asarray(x_te[:n_test]).reshape(n_test, -1), "x_test"),
        "y_test": to_labels(y_te[:n_test], "y_test"),
    }
    np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
    return arrays


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; prints what it wrote."""
    parser = argparse.ArgumentParser(
        prog="python -m trainer.datasets._build_mnist_mini", description=__doc__.splitlines()[0]
    )
    parser.add_argument("src", type=Path, help="Nielsen's mnist.pkl.gz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz path")
    args = parser.parse_args(argv)
    arrays = build(args.src, args.out)
    shapes = ", ".join(f"{k} {v.dtype}{v.shape}" for k, v in arrays.items())
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes): {shapes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
