"""The median/percentile pruner that counts running trials as peers, against Optuna's own."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from sweeps.errors import UserError
from sweeps.space import parse_space
from sweeps.store import make_pruner
from sweeps.store._pruners import PeerPercentilePruner

DIST = {"x": FloatDistribution(0.0, 1.0)}


def _add(study: optuna.Study, state: TrialState, values: dict[int, float]) -> None:
    study.add_trial(
        create_trial(
            state=state,
            value=0.5 if state == TrialState.COMPLETE else None,
            params={"x": 0.5},
            distributions=DIST,
            intermediate_values=values,
        )
    )


def _running(study: optuna.Study, values: dict[int, float]) -> FrozenTrial:
    trial = study.ask(fixed_distributions=DIST)
    for step, value in values.items():
        trial.report(value, step)
    return study._storage.get_trial(trial._trial_id)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
@pytest.mark.parametrize("percentile", [25.0, 50.0])
def test_with_only_completed_peers_it_decides_as_optuna(direction: str, percentile: float) -> None:
    rng = np.random.default_rng(0)
    study = optuna.create_study(direction=direction)
    for _ in range(7):
        _add(study, TrialState.COMPLETE, {s: float(v) for s, v in enumerate(rng.random(4))})
    ours = PeerPercentilePruner(percentile, n_startup_trials=5, n_warmup_steps=1)
    theirs = optuna.pruners.PercentilePruner(percentile, n_startup_trials=5, n_warmup_steps=1)
    decisions = []
    for _ in range(40):
        trial = _running(study, {s: float(v) for s, v in enumerate(rng.random(3))})
        decisions.append(ours.prune(study, trial))
        assert decisions[-1] == theirs.prune(study, trial)
        study.tell(trial.number, state=TrialState.FAIL)  # out of the peers
    assert any(decisions) and not all(decisions)  # the comparison decided both ways


def test_running_trials_at_the_same_step_are_peers() -> None:
    """A wave of trials that all run at once: Optuna's rule has no completed trial to
    compare with and prunes none; ours prunes the ones below the wave's median."""
    study = optuna.create_study(direction="maximize")
    wave = [_running(study, {1: v}) for v in (0.1, 0.2, 0.3, 0.7, 0.8, 0.9)]
    wave = [study._storage.get_trial(t._trial_id) for t in wave]
    ours = PeerPercentilePruner(50.0, n_startup_trials=5, n_warmup_steps=1)
    median = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
    assert [ours.prune(study, t) for t in wave] == [True, True, True, False, False, False]
    assert not any(median.prune(study, t) for t in wave)


def test_a_running_trial_counts_only_once_it_reached_the_step() -> None:
    study = optuna.create_study(direction="maximize")
    for v in (0.9, 0.9, 0.9, 0.9, 0.9):
        _running(study, {1: v})  # still at step 1: no value at step 2
    late = _running(study, {1: 0.95, 2: 0.5})
    ours = PeerPercentilePruner(50.0, n_startup_trials=1, n_warmup_steps=1)
    assert not ours.prune(study, late)  # no peer has a value at step 2


def test_a_pruned_trial_stays_a_peer_at_the_value_it_was_stopped_at() -> None:
    """Dropping pruned trials would leave only the survivors of each step as peers, and
    halve the wave at every epoch; kept at their last value, they hold the median."""
    study = optuna.create_study(direction="maximize")
    for v in (0.1, 0.2, 0.3):
        _add(study, TrialState.PRUNED, {1: v})
    for v in (0.8, 0.9):
        _running(study, {1: v + 0.05, 2: v})
    survivor = _running(study, {1: 0.75, 2: 0.7})
    ours = PeerPercentilePruner(50.0, n_startup_trials=5, n_warmup_steps=1)
    assert not ours.prune(study, survivor)  # median of 0.1, 0.2, 0.3, 0.8, 0.9 is 0.3
    _add(study, TrialState.PRUNED, {1: 0.85, 2: 0.85, 3: 0.85})  # reached step 2: its value
    _add(study, TrialState.PRUNED, {1: 0.9, 2: 0.95})
    assert ours.prune(study, survivor)  # 0.1 0.2 0.3 0.8 0.85 0.9 0.95: median 0.8


@pytest.mark.parametrize(
    ("startup", "warmup", "step", "pruned"),
    [(7, 1, 1, False), (6, 1, 1, True), (6, 2, 1, False), (6, 1, 0, False), (0, 0, 0, True)],
)
def test_startup_and_warmup(startup: int, warmup: int, step: int, pruned: bool) -> None:
    study = optuna.create_study(direction="maximize")
    for v in (0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        _add(study, TrialState.COMPLETE, {0: v, 1: v})
    trial = _running(study, {s: 0.1 for s in range(step + 1)})
    pruner = PeerPercentilePruner(50.0, n_startup_trials=startup, n_warmup_steps=warmup)
    assert pruner.prune(study, trial) is pruned


def test_a_trial_with_only_nan_values_is_pruned_and_nan_peers_are_ignored() -> None:
    study = optuna.create_study(direction="maximize")
    for v in (float("nan"), 0.2, 0.4):
        _add(study, TrialState.COMPLETE, {1: v})
    pruner = PeerPercentilePruner(50.0, n_startup_trials=0, n_warmup_steps=0)
    assert pruner.prune(study, _running(study, {1: float("nan")}))
    assert not pruner.prune(study, _running(study, {1: 0.35}))  # median of 0.2, 0.4
    assert pruner.prune(study, _running(study, {1: 0.25}))


@pytest.mark.parametrize(("name", "percentile"), [("median", 50.0), ("percentile", 25.0)])
def test_the_space_chooses_the_peers(name: str, percentile: float) -> None:
    def pruner(**study: object) -> optuna.pruners.BasePruner:
        raw = {"name": "s", "pruner": name, "pruner_startup_trials": 3, **study}
        return make_pruner(parse_space({"study": raw, "params": {"learning_rate": 0.1}}).settings)

    ours = pruner(pruner_peers="running")
    assert isinstance(ours, PeerPercentilePruner)
    assert (ours._percentile, ours._n_startup_trials) == (percentile, 3)
    optunas = pruner()  # the default: Optuna's own rule, completed trials only
    assert isinstance(optunas, optuna.pruners.PercentilePruner)
    assert (optunas._percentile, optunas._n_startup_trials) == (percentile, 3)
    assert pruner(pruner_peers="completed").__class__ is optunas.__class__


def test_pruner_peers_is_validated() -> None:
    raw = {"study": {"name": "s", "pruner_peers": "all"}, "params": {"learning_rate": 0.1}}
    with pytest.raises(UserError) as info:
        parse_space(raw)
    assert info.value.problems == [
        "search space: study.pruner_peers: must be one of completed, running, got 'all'"
    ]
