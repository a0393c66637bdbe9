"""Import TensorFlow and Keras quietly, once, with the TensorFlow backend.

Importing TensorFlow costs seconds and its C++ runtime prints INFO lines (oneDNN, CUDA
probing) straight to file descriptor 2, ignoring ``TF_CPP_MIN_LOG_LEVEL``. Everything
that needs TensorFlow goes through :func:`tf_keras`, which silences fd 2 only while
importing, so ``sweeps --help`` and config validation stay fast and clean.

Keras also imports matplotlib and scikit-learn when they are installed (MLflow installs
both), for its image-gallery plots and scikit-learn wrappers, which the trainer never
uses: over a second of a three-second import. :func:`tf_keras` imports Keras as if they
were not installed (Keras then goes without those two features in this process); any
later ``import matplotlib`` or ``import sklearn`` works as usual.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from functools import cache
from types import ModuleType


@contextlib.contextmanager
def _quiet_fd2() -> Iterator[None]:
    if os.environ.get("SWEEPS_TF_VERBOSE"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


KERAS_OPTIONAL = ("matplotlib", "sklearn")
"""Packages Keras imports only when installed, for features the trainer never uses."""


@contextlib.contextmanager
def _as_if_missing(names: tuple[str, ...]) -> Iterator[None]:
    """Make ``names`` look uninstalled while the block runs: ``None`` in ``sys.modules``
    makes their import raise ``ImportError``, which Keras catches. Packages imported
    already are left alone, and the entries are removed afterwards."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


@cache
def tf_keras() -> tuple[ModuleType, ModuleType]:
    """Return ``(tensorflow, keras)``, configured for small CPU models."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    with _quiet_fd2(), _as_if_missing(KERAS_OPTIONAL):
        import keras
        import tensorflow as tf

        tf.constant(0.0)  # initialise the runtime (device probing logs) while quiet
    tf.get_logger().setLevel("ERROR")
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"KERAS_BACKEND must be 'tensorflow', got {keras.backend.backend()!r}")
    return tf, keras
