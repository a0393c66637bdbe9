"""Successive halving in the slots (``pruner: asha``): where the rungs are, who goes on,
and a population sweep that stops its losers at the rungs, one objective or several."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from sweeps.analysis.anytime import best_so_far, rung_stops
from sweeps.runner.population import run_population
from sweeps.runner.rungs import RungMember, Rungs, judge_rungs, pareto_order
from sweeps.space import parse_space
from sweeps.store import Store, Tracker, open_study, resolve_store
from sweeps.store.schema import ATTR_STOPPED_AT_RUNG, rung_attr
from tests._cases import TINY_PARAMS
from trainer.data import Dataset


@pytest.mark.parametrize(
    ("min_epochs", "factor", "last", "epochs"),
    [
        (1, 3, 5, [1, 3]),
        (1, 2, 9, [1, 2, 4, 8]),
        (2, 3, 20, [2, 6, 18]),
        (1, 3, 1, []),
        (1, 3, 3, [1]),
        (4, 2, 4, []),
    ],
)
def test_rung_epochs(min_epochs: int, factor: int, last: int, epochs: list[int]) -> None:
    """Rungs at min * factor**k, short of the last epoch (where a trial ends anyway)."""
    rungs = Rungs(min_epochs, factor)
    assert rungs.epochs(last) == epochs
    assert [rungs.rung_at(e, last) for e in epochs] == list(range(1, len(epochs) + 1))


def _study(direction: str = "maximize", directions: list[str] | None = None) -> optuna.Study:
    return optuna.create_study(
        directions=directions or [direction], sampler=optuna.samplers.RandomSampler(seed=0)
    )


def _reached(study: optuna.Study, values: list[float], state: TrialState, step: int = 1) -> None:
    for value in values:
        trial = study.ask()
        trial.report(value, step)
        if state == TrialState.COMPLETE:
            study.tell(trial, value)
        elif state == TrialState.PRUNED:
            study.tell(trial, state=TrialState.PRUNED)


@pytest.mark.parametrize("direction", ["maximize", "minimize"])
@pytest.mark.parametrize("factor", [2, 3, 4])
def test_the_top_share_of_everyone_at_the_rung_goes_on(direction: str, factor: int) -> None:
    """Against a plain reference: of all the trials that reached the rung (complete,
    pruned, running, and the members judged now), the best n // factor go on."""
    rng = random.Random(factor)
    study = _study(direction)
    for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING):
        _reached(study, [rng.random() for _ in range(5)], state)
    members = []
    for _ in range(12):  # a population's members, all reported before any is judged
        trial = study.ask()
        value = rng.random()
        trial.report(value, 1)
        members.append(RungMember(trial.number, 1, 5, (value,)))
    stops = judge_rungs(
        study, Rungs(1, factor), members, objectives=["val_accuracy"], directions=[direction]
    )
    everyone = [t.intermediate_values[1] for t in study.get_trials()]
    ranked = sorted(everyone, reverse=direction == "maximize")
    kept = ranked[: len(everyone) // factor]
    for m in members:
        assert (m.number not in stops) == (m.values is not None and m.values[0] in kept)
    assert len(everyone) == 27


def test_members_judged_together_do_not_depend_on_their_order() -> None:
    """Nine members reach the first rung at once with nobody before them: exactly the best
    three go on, in whatever order they are listed (Optuna's SuccessiveHalvingPruner, which
    fills the rung as it judges, keeps whichever it sees first)."""
    values = [0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4]
    outcomes = set()
    for seed in range(4):
        study = _study()
        members = []
        for value in values:
            trial = study.ask()
            trial.report(value, 1)
            members.append(RungMember(trial.number, 1, 5, (value,)))
        random.Random(seed).shuffle(members)
        stops = judge_rungs(
            study, Rungs(1, 3), members, objectives=["val_accuracy"], directions=["maximize"]
        )
        kept = sorted(values[m.number] for m in members if m.number not in stops)
        outcomes.add(tuple(kept))
    assert outcomes == {(0.7, 0.8, 0.9)}
    stop = stops[values.index(0.6)]
    assert stop.rung == 1 and stop.epoch == 1
    assert stop.reason == (
        "rung 1 (epoch 1): val_accuracy 0.6000 outside the top third (3 of 9 trials, from 0.7000)"
    )


def test_epochs_that_are_no_rung_are_not_judged() -> None:
    study = _study()
    members = []
    for value in (0.1, 0.9, 0.5):
        trial = study.ask()
        trial.report(value, 2)
        members.append(RungMember(trial.number, 2, 5, (value,)))
    assert (
        judge_rungs(
            study, Rungs(1, 3), members, objectives=["val_accuracy"], directions=["maximize"]
        )
        == {}
    )


def _reference_fronts(costs: np.ndarray) -> list[int]:
    """Pareto rank of each row (minimising every column), by brute force."""
    ranks = [-1] * len(costs)
    rank, left = 0, set(range(len(costs)))
    while left:
        front = {
            i
            for i in left
            if not any(np.all(costs[j] <= costs[i]) and np.any(costs[j] < costs[i]) for j in left)
        }
        for i in front:
            ranks[i] = rank
        left -= front
        rank += 1
    return ranks


def test_several_objectives_rank_by_pareto_front_then_crowding() -> None:
    rng = np.random.default_rng(0)
    points = rng.random((40, 2))
    values = {i: (float(a), float(b)) for i, (a, b) in enumerate(points)}
    order = pareto_order(values, ["maximize", "minimize"])
    costs = points * np.array([-1.0, 1.0])
    ranks = _reference_fronts(costs)
    assert [ranks[n] for n in order] == sorted(ranks)  # fronts in order
    first = [n for n in order if ranks[n] == 0]
    by_accuracy = sorted(first, key=lambda n: values[n][0])
    assert {first[0], first[1]} == {by_accuracy[0], by_accuracy[-1]}  # the ends: infinite


def test_several_objectives_read_the_rung_values_kept_on_the_trials() -> None:
    study = _study(directions=["maximize", "minimize"])
    # (accuracy, size): the dominated ones go, however many were there before
    for value in [(0.9, 100.0), (0.5, 500.0), (0.4, 800.0)]:
        trial = study.ask()
        trial.set_user_attr(rung_attr(1), list(value))
        study.tell(trial, state=TrialState.PRUNED)
    members = []
    for value in [(0.95, 50.0), (0.3, 900.0), (0.6, 400.0)]:
        trial = study.ask()
        trial.set_user_attr(rung_attr(1), list(value))
        members.append(RungMember(trial.number, 1, 5, value))
    stops = judge_rungs(
        study,
        Rungs(1, 3),
        members,
        objectives=["val_accuracy", "params_count"],
        directions=["maximize", "minimize"],
    )
    assert sorted(stops) == [members[1].number, members[2].number]  # 2 of 6 go on
    assert "Pareto rank" in stops[members[1].number].reason


# -- in a sweep ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return resolve_store(root=tmp_path_factory.mktemp("rungs") / "mlruns")


def _space(name: str, **study: Any) -> Any:
    return parse_space(
        {
            "study": {"name": name, "sampler": "random", "seed": 0, **study},
            "params": {
                **TINY_PARAMS,
                "activation": "sigmoid",
                "output_activation": "softmax",
                "loss": "crossentropy",
                "weight_init_scale": 0.1,
                "bias_init": "zeros",
                "epochs": 4,
                "learning_rate": {"type": "float", "low": 0.001, "high": 1.0, "log": True},
            },
        }
    )


def _sweep(store: Store, space: Any, data: Dataset, n: int, size: int) -> optuna.Study:
    study = open_study(space, store)
    tracker = Tracker(store, space.settings.name)
    run_population(study, space, tracker, data, size, wanted=lambda asked, live: n - asked)
    return study


def test_a_population_stops_its_losers_at_each_rung(store: Store, mini: Dataset) -> None:
    """The default pruner of the population engine: 9 trials start together; at epoch 1
    (rung 1) the top third goes on, at epoch 3 (rung 2) the top third of those; the rest
    are PRUNED with their rung on the trial, apart from failures."""
    space = _space("asha")
    assert space.settings.pruner_for("population") == "asha"
    study = _sweep(store, space, mini, 9, 9)
    trials = study.get_trials()
    reached = [t for t in trials if 1 in t.intermediate_values]
    assert len(reached) == 9  # no trial of this space diverges in its first epoch
    assert rung_stops(trials) == {1: 6, 2: 2}
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 1
    epoch_of = {1: 1, 2: 3}
    for t in trials:
        if t.state == TrialState.PRUNED:
            rung = t.user_attrs[ATTR_STOPPED_AT_RUNG]
            reason = t.user_attrs["reason"]
            assert reason.startswith(f"stopped at rung {rung} (epoch {epoch_of[rung]}): ")
            assert t.last_step == epoch_of[rung]
            assert t.user_attrs["outcome"] not in ("failed", "diverged")  # stuck stays stuck
    survivors = [t for t in trials if t.last_step and t.last_step > 1]
    at_one = sorted((t.intermediate_values[1] for t in trials), reverse=True)
    assert sorted(t.intermediate_values[1] for t in survivors) == sorted(at_one[:3])
    points = best_so_far(study)
    assert points and points[-1].value == study.best_value and points[0].seconds >= 0


def test_slots_refilled_after_a_rung_meet_the_rung_so_far(store: Store, mini: Dataset) -> None:
    """Three slots, twelve trials: a trial reaching the first rung later is judged against
    every trial that reached it before (ASHA), not against its own wave alone."""
    study = _sweep(store, _space("asha-refill", reduction_factor=2), mini, 12, 3)
    trials = study.get_trials()
    assert len(trials) == 12
    for t in trials:
        if t.user_attrs.get(ATTR_STOPPED_AT_RUNG) == 1:
            before = [
                u.intermediate_values[1]
                for u in trials
                if u.datetime_start <= t.datetime_complete and 1 in u.intermediate_values
            ]
            assert t.intermediate_values[1] <= sorted(before, reverse=True)[len(before) // 2 - 1]


def test_several_objectives_stop_at_the_rungs_too(store: Store, mini: Dataset) -> None:
    space = _space("asha-multi", metrics=["val_accuracy", "seconds_per_epoch"])
    assert space.settings.pruner_for("population") == "asha"
    assert space.settings.pruner_for("single") == "none"
    study = _sweep(store, space, mini, 9, 9)
    trials = study.get_trials()
    assert sum(t.state == TrialState.PRUNED for t in trials) >= 6
    assert all(rung_attr(1) in t.user_attrs for t in trials)
    assert any("Pareto rank" in t.user_attrs["reason"] for t in trials)


@pytest.mark.parametrize(
    ("study", "message"),
    [
        ({"reduction_factor": 1}, "study.reduction_factor: must be an integer >= 2, got 1"),
        ({"min_epochs": 0}, "study.min_epochs: must be an integer >= 1, got 0"),
        ({"pruner": "ashes"}, "study.pruner: must be one of auto, asha, median"),
    ],
)
def test_bad_rung_settings_name_field_rule_and_value(study: dict, message: str) -> None:
    from sweeps.errors import UserError

    with pytest.raises(UserError) as info:
        parse_space({"study": {"name": "r", **study}, "params": {"epochs": 3}})
    assert any(message in p for p in info.value.problems), info.value.problems


def test_the_rung_settings_reach_optunas_halving_pruners() -> None:
    from sweeps.store import make_pruner

    space = parse_space(
        {
            "study": {
                "name": "r",
                "pruner": "successive_halving",
                "reduction_factor": 2,
                "min_epochs": 2,
            },
            "params": {"epochs": 8},
        }
    )
    pruner = make_pruner(space.settings)
    assert isinstance(pruner, optuna.pruners.SuccessiveHalvingPruner)
    assert pruner._reduction_factor == 2 and pruner._min_resource == 2
    default = parse_space({"study": {"name": "r"}, "params": {"epochs": 8}}).settings
    assert default.pruner_for("single") == "median" and default.pruner_for("population") == "asha"
    assert isinstance(make_pruner(default), optuna.pruners.MedianPruner)  # the single engine's
