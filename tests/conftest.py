"""Fixtures shared by the whole suite: the embedded and the full MNIST datasets, and a
private user cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from trainer.data import Dataset, load_dataset

MNIST_PKL = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.pkl.gz"
"""Nielsen's full MNIST pickle, ``../shared/data/mnist.pkl.gz`` from the project root."""


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    """Path of the full MNIST pickle; skips the test when the file is not there."""
    if not MNIST_PKL.is_file():
        pytest.skip(f"full MNIST pickle not found at {MNIST_PKL} (only on the team's machines)")
    return MNIST_PKL


@pytest.fixture(scope="session")
def mini() -> Dataset:
    """The embedded ``mnist-mini`` dataset (10k train pool / 2k test), loaded once."""
    return load_dataset("mnist-mini")


@pytest.fixture(scope="session")
def mnist(mnist_path: Path) -> Dataset:
    """Full MNIST (60k pool / 10k test), loaded once; ``validation_split=1/6`` gives 50k/10k."""
    return load_dataset(str(mnist_path))


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``XDG_CACHE_HOME`` of the session (and of the processes it starts): a new empty
    directory, so the tests neither read nor fill the user's ``~/.cache``. The MLflow
    template database (``sweeps.store._template``) is built there once per session."""
    path = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(path))
        yield path
