"""A Ctrl-C that a library turns into an error of its own (Optuna's journal file lock
raises FileNotFoundError when the KeyboardInterrupt lands inside its release) still
interrupts the trial and stops the sweep, instead of failing the trial and going on."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import TrialState

from sweeps.procs import interrupt_requested, interrupts_remembered
from sweeps.store import resolve_store
from sweeps.store.schema import ATTR_OUTCOME


def _ctrl_c_made_into_an_error() -> None:
    """What Optuna's lock release does with a KeyboardInterrupt after its rename."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the handler raises here
    except KeyboardInterrupt:
        raise FileNotFoundError("lock file gone") from None


def test_the_interrupt_is_remembered_through_the_error_for_the_block_only() -> None:
    with interrupts_remembered():
        assert not interrupt_requested()
        try:
            _ctrl_c_made_into_an_error()
        except OSError:
            assert interrupt_requested()  # the error came of a Ctrl-C
    assert not interrupt_requested()  # a later trial's genuine error is a failure again
    with interrupts_remembered():
        assert not interrupt_requested()


def test_run_sweep_interrupts_the_trial_instead_of_failing_it(
    write_space, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sweeps.runner.sweep import run_sweep
    from sweeps.space import load_space
    from sweeps.store import load_existing

    def train(*args: Any, **kwargs: Any) -> Any:
        _ctrl_c_made_into_an_error()

    monkeypatch.setattr("trainer.training.train", train)
    store = resolve_store(root=tmp_path / "mlruns")
    space = load_space(write_space("cc", study={"trials": 3}))
    summary = run_sweep(space, store, trials=None, engine="single")
    assert summary.interrupted
    trials = load_existing("cc", store).get_trials()
    assert [(t.state, t.user_attrs.get(ATTR_OUTCOME)) for t in trials] == [
        (TrialState.FAIL, "interrupted")  # one trial, interrupted; no second one started
    ]
