"""``study.prune_on_signals``: cheap per-epoch signals (dead/saturated units) feed pruning."""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from sweeps.errors import UserError
from sweeps.space import parse_space
from sweeps.store import load_existing, resolve_store

DEAD_RELU = {  # all-zero ReLU net: every unit dead from the first epoch on
    "hidden_layers": [16, 16],
    "activation": "relu",
    "output_activation": "softmax",
    "weight_init": "zeros",
    "bias_init": "zeros",
    "loss": "crossentropy",
    "learning_rate": 0.1,
    "epochs": 4,
}


@pytest.mark.parametrize("engine", ["single", "population"])
def test_dead_units_prune_after_warmup(cli, write_space, tmp_path: Path, engine: str) -> None:
    space = write_space(
        "signals",
        study={"trials": 1, "prune_on_signals": True, "pruner_warmup_epochs": 1},
        params=DEAD_RELU,
    )
    root = tmp_path / "mlruns"
    res = cli("run", space, "--root", root, "--engine", engine, "--quiet")
    assert res.code == 0, res
    (trial,) = load_existing("signals", resolve_store(root=root)).get_trials()
    assert trial.state == TrialState.PRUNED
    assert trial.user_attrs["epochs_run"] == 2  # warm-up epoch 1, pruned after epoch 2
    assert (
        "pruned on signal (100% of ReLU units dead > 50%) after epoch 2"
        in (trial.user_attrs["reason"])
    )


def test_signals_prune_a_multi_objective_trial(cli, write_space, tmp_path: Path) -> None:
    """Optuna has no pruner for several objectives: the signals still stop the trial."""
    space = write_space(
        "msignals",
        study={
            "trials": 1,
            "prune_on_signals": True,
            "pruner_warmup_epochs": 1,
            "metrics": ["val_accuracy", "seconds_per_epoch"],
        },
        params=DEAD_RELU,
    )
    root = tmp_path / "mlruns"
    assert cli("run", space, "--root", root, "--engine", "single", "--quiet").code == 0
    study = load_existing("msignals", resolve_store(root=root))
    assert len(study.directions) == 2
    (trial,) = study.get_trials()
    assert trial.state == TrialState.PRUNED and trial.user_attrs["epochs_run"] == 2
    assert "pruned on signal (100% of ReLU units dead > 50%)" in trial.user_attrs["reason"]


def test_signals_off_by_default(cli, write_space, tmp_path: Path) -> None:
    space = write_space("nosignals", study={"trials": 1}, params=DEAD_RELU)
    root = tmp_path / "mlruns"
    assert cli("run", space, "--root", root, "--engine", "single", "--quiet").code == 0
    (trial,) = load_existing("nosignals", resolve_store(root=root)).get_trials()
    assert trial.state == TrialState.COMPLETE
    assert trial.user_attrs["epochs_run"] == 4


def test_prune_on_signals_must_be_bool() -> None:
    with pytest.raises(UserError) as info:
        parse_space({"study": {"prune_on_signals": "yes"}, "params": {"epochs": 1}})
    assert "study.prune_on_signals: must be true or false, got 'yes'" in info.value.problems[0]
