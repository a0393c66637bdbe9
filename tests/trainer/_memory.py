"""Leak checks for the training engines: live traced graphs and resident memory."""

from __future__ import annotations

import gc
import os

import pytest

from trainer._tf import tf_keras

needs_statm = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")


def live_func_graphs() -> int:
    """How many traced TensorFlow graphs are alive now (after a garbage collection)."""
    tf_keras()  # import TensorFlow quietly first
    from tensorflow.python.framework.func_graph import FuncGraph

    gc.collect()
    return sum(isinstance(o, FuncGraph) for o in gc.get_objects())


def rss_mb() -> float:
    """Resident memory of this process now, MB (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20
