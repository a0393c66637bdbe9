"""Importing TensorFlow and Keras (``trainer._tf``): quiet, and without the optional
packages Keras would load for features the trainer does not use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainer._tf import _as_if_missing

ROOT = Path(__file__).resolve().parents[2]


def test_hidden_packages_cannot_be_imported_inside_and_can_after() -> None:
    name = "sweeps_test_not_imported_yet"
    with _as_if_missing((name, "json")):
        with pytest.raises(ImportError):
            __import__(name)
        import json  # imported already: left alone

        assert json.dumps([1]) == "[1]"
    assert name not in sys.modules and sys.modules["json"] is not None


def test_tf_keras_skips_matplotlib_and_sklearn_but_leaves_them_importable() -> None:
    """In a fresh interpreter: Keras works without having imported them, and importing
    them afterwards still works (where installed: MLflow brings both)."""
    code = (
        "import importlib.util, sys\n"
        "from trainer._tf import tf_keras, KERAS_OPTIONAL\n"
        "tf, keras = tf_keras()\n"
        "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"
        "assert model(tf.ones((1, 3))).shape == (1, 2)\n"
        "print(sorted(n for n in KERAS_OPTIONAL if n in sys.modules))\n"
        "for name in KERAS_OPTIONAL:\n"
        "    if importlib.util.find_spec(name) is not None:\n"
        "        __import__(name)\n"
        "print('imported')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["[]", "imported"], proc.stdout
    assert not proc.stderr.strip(), "tf_keras() prints nothing: " + proc.stderr[-2000:]
