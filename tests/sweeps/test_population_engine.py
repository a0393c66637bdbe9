"""The population engine in a sweep: one MLflow child run and one ending per trial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

import trainer.population
from sweeps.runner.cohort import (
    MAX_COHORT,
    can_use_population,
    default_cohort_size,
    subcohort_count,
)
from sweeps.runner.population import run_population
from sweeps.runner.session import TrialReport
from sweeps.space import SearchSpace, parse_space
from sweeps.store import Store, Tracker, open_study, resolve_store
from sweeps.store.schema import ATTR_REASON, TAG_OUTCOME, TAG_REASON, TAG_ROLE, TAG_STATE, TAG_TRIAL
from tests._cases import HEALTHY, TINY_PARAMS
from trainer.config import TrainConfig
from trainer.data import Dataset


def make_space(name: str, params: dict[str, Any], **study: Any) -> SearchSpace:
    raw = {
        "study": {"name": name, "sampler": "random", "seed": 0, "pruner": "none", **study},
        "params": {**TINY_PARAMS, **params},
    }
    return parse_space(raw)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return resolve_store(root=tmp_path_factory.mktemp("population") / "mlruns")


def start(
    store: Store, space: SearchSpace, *enqueued: dict[str, Any]
) -> tuple[optuna.Study, Tracker]:
    study = open_study(space, store)
    for params in enqueued:
        study.enqueue_trial(params)
    return study, Tracker(store, space.settings.name)


def child_runs(store: Store, tracker: Tracker) -> dict[int, Any]:
    client = MlflowClient(store.tracking_uri)
    runs = client.search_runs([tracker.experiment_id], max_results=100)
    return {int(r.data.tags[TAG_TRIAL]): r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"}


def run_cohort(
    study: optuna.Study, space: SearchSpace, tracker: Tracker, data: Dataset, n: int, size: int = 0
) -> list[TrialReport]:
    """``n`` trials through ``size`` slots (default ``n``), reports by trial number."""
    reports = run_population(
        study, space, tracker, data, size or n, wanted=lambda asked, live: n - asked
    )
    return sorted(reports, key=lambda r: r.number)


class Recorder:
    """Wraps Population.run_epoch: records each epoch's members, can fail chosen shapes."""

    def __init__(self, fail_batch: int | None = None, exc: BaseException | None = None) -> None:
        self.calls: list[list[TrainConfig]] = []
        self.fail_batch, self.exc = fail_batch, exc
        self.real = trainer.population.Population.run_epoch

    def install(self, monkeypatch: pytest.MonkeyPatch) -> Recorder:
        recorder = self

        def run_epoch(pop: Any, *args: Any, **kwargs: Any) -> Any:
            recorder.calls.append([m.config for m in pop.members if m is not None])
            if recorder.exc is not None and pop.template.batch_size == recorder.fail_batch:
                raise recorder.exc
            return recorder.real(pop, *args, **kwargs)

        monkeypatch.setattr(trainer.population.Population, "run_epoch", run_epoch)
        return self


# --------------------------------------------------------------------------- run_cohort


def test_each_member_gets_its_own_run_and_ending(store: Store, mini: Dataset) -> None:
    space = make_space(
        "pop-diverge", {"learning_rate": {"type": "categorical", "choices": [0.0005, 0.001, 3.0]}}
    )
    study, tracker = start(store, space, *({"learning_rate": lr} for lr in (0.001, 3.0, 0.0005)))
    reports = run_cohort(study, space, tracker, mini, 3)

    assert [r.number for r in reports] == [0, 1, 2]
    by_lr = {r.params["learning_rate"]: r for r in reports}
    bad = by_lr[3.0]
    assert (bad.state, bad.outcome) == ("PRUNED", "diverged")
    assert bad.reason.startswith("diverged at epoch 1 batch ")
    for lr in (0.001, 0.0005):
        assert by_lr[lr].state == "COMPLETE" and by_lr[lr].value is not None

    trials = {t.number: t for t in study.get_trials()}
    assert trials[bad.number].state == TrialState.PRUNED
    assert trials[bad.number].user_attrs["outcome"] == "diverged"
    assert trials[bad.number].user_attrs["diverged_epoch"] == 1
    runs = child_runs(store, tracker)
    assert sorted(runs) == [0, 1, 2]
    for number, run in runs.items():
        tags = run.data.tags
        assert tags["sweeps.engine"] == "population"
        assert tags[TAG_STATE] == trials[number].state.name
        assert tags[TAG_OUTCOME] == trials[number].user_attrs["outcome"]
        assert run.info.status == "FINISHED"
        assert float(run.data.params["learning_rate"]) == trials[number].params["learning_rate"]
        assert trials[number].user_attrs["mlflow_run_id"] == run.info.run_id
    assert runs[bad.number].data.tags[TAG_REASON].startswith("diverged at epoch 1 batch")
    client = MlflowClient(store.tracking_uri)
    for number in (0, 2):  # the healthy ones logged both epochs
        history = client.get_metric_history(runs[number].info.run_id, "val_accuracy")
        assert sorted(m.step for m in history) == [1, 2]


class PruneLearningRate(optuna.pruners.BasePruner):
    """Prunes the trials with one learning rate after their first report."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = learning_rate

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return bool(trial.params.get("learning_rate") == self.learning_rate)


def test_the_pruner_stops_one_member(store: Store, mini: Dataset) -> None:
    space = make_space(
        "pop-prune",
        {**HEALTHY, "learning_rate": {"type": "categorical", "choices": [0.003, 0.01]}},
        pruner="median",
    )
    study, tracker = start(store, space, {"learning_rate": 0.003}, {"learning_rate": 0.01})
    study.pruner = PruneLearningRate(0.01)
    reports = run_cohort(study, space, tracker, mini, 2)
    pruned, kept = reports[1], reports[0]
    assert (pruned.state, pruned.outcome) == ("PRUNED", "pruned")
    assert "after epoch 1" in pruned.reason
    assert kept.state == "COMPLETE"
    trials = study.get_trials()
    assert trials[1].user_attrs["epochs_run"] == 1
    assert trials[0].user_attrs["epochs_run"] == 2


class CountingPruner(optuna.pruners.BasePruner):
    """Never prunes; records how many trials had a value at the step of each decision."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        trials = study.get_trials(deepcopy=False)
        self.seen.append(sum(step in t.intermediate_values for t in trials))
        return False


def test_every_member_reports_its_epoch_before_any_is_judged(store: Store, mini: Dataset) -> None:
    space = make_space("pop-peers", {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3}})
    study, tracker = start(store, space)
    study.pruner = counting = CountingPruner()
    run_cohort(study, space, tracker, mini, 4)
    assert counting.seen == [4] * 8  # 4 members x 2 epochs, each judged among all 4


def test_the_median_pruner_judges_a_wave_against_itself(store: Store, mini: Dataset) -> None:
    """``pruner_peers: running``. Four trials start together, so none has completed when
    they are judged after epoch 1 (Optuna's MedianPruner would prune none): the two below
    the others' median go."""
    lrs = (1e-6, 0.01, 1e-5, 0.003)
    space = make_space(
        "pop-wave",
        {**HEALTHY, "learning_rate": {"type": "categorical", "choices": list(lrs)}},
        pruner="median",
        pruner_startup_trials=3,
        pruner_warmup_epochs=1,
        pruner_peers="running",
    )
    study, tracker = start(store, space, *({"learning_rate": lr} for lr in lrs))
    reports = run_cohort(study, space, tracker, mini, 4)
    assert [r.state for r in reports] == ["PRUNED", "COMPLETE", "PRUNED", "COMPLETE"]
    for pruned in (reports[0], reports[2]):
        assert pruned.reason.startswith("pruned by median pruner after epoch 1")


def test_members_that_differ_in_batch_size_train_in_one_population_per_shape(
    store: Store, mini: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = make_space(
        "pop-sub",
        {
            "learning_rate": {"type": "categorical", "choices": [0.0005, 0.001]},
            "batch_size": {"type": "categorical", "choices": [100, 200]},
        },
    )
    enqueued = [
        {"learning_rate": lr, "batch_size": b} for b in (100, 200) for lr in (0.0005, 0.001)
    ]
    study, tracker = start(store, space, *enqueued)
    recorder = Recorder().install(monkeypatch)
    reports = run_cohort(study, space, tracker, mini, 4)
    # one population per batch size, epochs in turn: 100, 200, 100, 200
    assert [len(c) for c in recorder.calls] == [2, 2, 2, 2]
    assert [call[0].batch_size for call in recorder.calls] == [100, 200, 100, 200]
    assert all(len({c.batch_size for c in call}) == 1 for call in recorder.calls)
    assert [r.state for r in reports] == ["COMPLETE"] * 4
    assert len(child_runs(store, tracker)) == 4


def test_an_error_fails_only_its_population(
    store: Store, mini: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = make_space(
        "pop-error",
        {
            "learning_rate": {"type": "categorical", "choices": [0.0005, 0.001]},
            "batch_size": {"type": "categorical", "choices": [100, 200]},
        },
    )
    enqueued = [{"learning_rate": 0.001, "batch_size": b} for b in (100, 200, 100)]
    study, tracker = start(store, space, *enqueued)
    Recorder(fail_batch=200, exc=RuntimeError("boom")).install(monkeypatch)
    reports = run_cohort(study, space, tracker, mini, 3)
    assert [r.state for r in reports] == ["COMPLETE", "FAIL", "COMPLETE"]
    assert reports[1].outcome == "failed"
    assert reports[1].reason == "RuntimeError: boom"
    runs = child_runs(store, tracker)
    assert runs[1].info.status == "FAILED"
    assert runs[1].data.tags[TAG_REASON] == "RuntimeError: boom"
    assert {runs[0].info.status, runs[2].info.status} == {"FINISHED"}


def test_ctrl_c_interrupts_every_unfinished_member(
    store: Store, mini: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    space = make_space(
        "pop-ctrl-c", {"learning_rate": {"type": "categorical", "choices": [0.0005, 0.001]}}
    )
    study, tracker = start(store, space, {"learning_rate": 0.001}, {"learning_rate": 0.0005})
    Recorder(fail_batch=100, exc=KeyboardInterrupt()).install(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run_cohort(study, space, tracker, mini, 2)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    assert {t.user_attrs["outcome"] for t in trials} == {"interrupted"}
    assert {r.info.status for r in child_runs(store, tracker).values()} == {"KILLED"}


def test_slots_are_refilled_as_trials_end_and_the_sampler_is_told_first(
    store: Store, mini: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two slots, five trials: the diverging trial ends in epoch 1 and its slot takes the
    next trial while trial 0 is still training; every trial is asked only after the
    trial whose slot it takes was told to Optuna; nothing is left running."""
    space = make_space(
        "pop-slots", {"learning_rate": {"type": "categorical", "choices": [0.0005, 0.001, 3.0]}}
    )
    lrs = (0.001, 3.0, 0.0005, 0.001, 0.0005)
    study, tracker = start(store, space, *({"learning_rate": lr} for lr in lrs))
    recorder = Recorder().install(monkeypatch)
    seen: list[int] = []
    reports = run_population(
        study,
        space,
        tracker,
        mini,
        2,
        wanted=lambda asked, live: len(lrs) - asked,
        on_report=lambda r: seen.append(r.number),
    )
    assert seen == [1, 0, 2, 3, 4]  # reported as they end, not at the end
    assert [len(c) for c in recorder.calls] == [2, 2, 2, 2, 1]  # never more than 2 live
    assert [c.learning_rate for c in recorder.calls[1]] == [0.001, 0.0005]
    trials = {t.number: t for t in study.get_trials()}
    assert all(t.state.is_finished() for t in trials.values())
    assert trials[2].datetime_start >= trials[1].datetime_complete  # told, then asked
    assert trials[2].datetime_start < trials[0].datetime_complete  # while 0 trains
    assert {r.number: r.state for r in reports} == {
        0: "COMPLETE",
        1: "PRUNED",
        2: "COMPLETE",
        3: "COMPLETE",
        4: "COMPLETE",
    }


# --------------------------------------------------------------------------- choosing


def test_can_use_population() -> None:
    lr = {"learning_rate": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}}
    assert can_use_population(make_space("a", lr))
    assert can_use_population(
        make_space(
            "b",
            {
                **lr,
                "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
                "activation": {"type": "categorical", "choices": ["relu", "tanh"]},
            },
        )
    )
    few = {
        "batch_size": {"type": "categorical", "choices": [32, 64]},
        "hidden_layers": {"type": "categorical", "choices": [[16], [32]]},
    }
    assert subcohort_count(make_space("c", {**lr, **few})) == 4
    assert can_use_population(make_space("c", {**lr, **few}))
    assert not can_use_population(
        make_space("d", {**lr, "batch_size": {"type": "int", "low": 8, "high": 256}})
    )
    assert not can_use_population(
        make_space("e", {**lr, "validation_split": {"type": "float", "low": 0.1, "high": 0.2}})
    )
    # seed and epochs are per member now (each member draws its own batch order)
    per_member = {
        "seed": {"type": "int", "low": 0, "high": 99},
        "epochs": {"type": "categorical", "choices": [1, 2, 3]},
    }
    assert can_use_population(make_space("f", {**few, **per_member}))
    assert not can_use_population(
        make_space("g", {**few, "validation_split": {"type": "categorical", "choices": [0.1, 0.2]}})
    )


def test_default_cohort_size() -> None:
    # sizes are read from the data: mnist-mini has full MNIST's 784 features, 10 classes
    nielsen = TrainConfig(hidden_layers=(30,), batch_size=10, dataset="mnist-mini")
    assert default_cohort_size(nielsen) == MAX_COHORT
    assert default_cohort_size(nielsen.to_dict()) == MAX_COHORT
    big = nielsen.replace(hidden_layers=[1000, 1000])
    assert 1 <= default_cohort_size(big) < 8
    huge = nielsen.replace(hidden_layers=[100_000, 100_000])
    assert default_cohort_size(huge) == 1
    # memory-bound: ~36 bytes per parameter per member
    assert default_cohort_size(nielsen, available_memory_bytes=300 * 2**20) < MAX_COHORT
    assert default_cohort_size(nielsen, available_memory_bytes=0) == 1


def test_default_cohort_size_of_a_space_counts_its_largest_architecture() -> None:
    small = make_space("s", {"hidden_layers": [8]})
    swept = make_space(
        "t", {"hidden_layers": {"type": "categorical", "choices": [[8], [1000, 1000]]}}
    )
    assert default_cohort_size(small) == MAX_COHORT
    assert default_cohort_size(swept) == default_cohort_size(
        TrainConfig(hidden_layers=(1000, 1000), batch_size=100, dataset="mnist-mini")
    )


def test_sweep_auto_engine_picks_population(tmp_path: Path) -> None:
    from sweeps.runner.sweep import choose_engine

    space = make_space("auto", {"learning_rate": {"type": "float", "low": 1e-3, "high": 1.0}})
    assert choose_engine(space, "auto") == "population"
    space = make_space("auto2", {"batch_size": {"type": "int", "low": 8, "high": 128}})
    assert choose_engine(space, "auto") == "single"


def test_trials_ending_together_wait_for_the_writer_once_and_end_their_runs_first(
    store: Store, mini: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three members end at the same epoch boundary: one wait for the MLflow writer (not
    one each) for their runs' writes alone, every run is already ended when its trial is
    told, and the artifacts, queued after the tells, are there when the population
    returns (its one other wait, for everything)."""
    space = make_space(
        "pop-together", {"learning_rate": {"type": "categorical", "choices": [0.0005, 0.001]}}
    )
    study, tracker = start(store, space)
    waits: list[set[str] | None] = []
    real_flush = tracker.flush

    def flush(runs: Any = None) -> bool:
        waits.append(None if runs is None else set(runs))
        return real_flush(runs)

    monkeypatch.setattr(tracker, "flush", flush)
    ended_before_tell: list[bool] = []
    real_tell = study.tell

    def tell(trial: Any, *args: Any, **kwargs: Any) -> Any:
        run_id = trial.user_attrs["mlflow_run_id"]
        ended_before_tell.append(tracker.client.get_run(run_id).info.status != "RUNNING")
        return real_tell(trial, *args, **kwargs)

    monkeypatch.setattr(study, "tell", tell)
    reports = run_cohort(study, space, tracker, mini, 3)
    assert [r.state for r in reports] == ["COMPLETE"] * 3
    assert waits == [{t.user_attrs["mlflow_run_id"] for t in study.get_trials()}, None]
    assert ended_before_tell == [True, True, True]
    assert {t.state for t in study.get_trials()} == {TrialState.COMPLETE}
    client = MlflowClient(store.tracking_uri)
    for t in study.get_trials():
        files = {f.path for f in client.list_artifacts(t.user_attrs["mlflow_run_id"])}
        assert {"params.yaml", "history.csv"} <= files


def test_a_run_the_tracking_store_refuses_fails_its_trial_only(
    store: Store, mini: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member's run is created while it trains its first epoch; when MLflow refuses it,
    that trial alone ends FAIL with the message, and the others train on."""
    from mlflow.exceptions import MlflowException

    space = make_space(
        "pop-runless", {"learning_rate": {"type": "categorical", "choices": [0.0005, 0.001]}}
    )
    study, tracker = start(store, space)
    real_create = tracker.client.create_run

    def create_run(experiment_id: str, **kwargs: Any) -> Any:
        if kwargs["tags"][TAG_TRIAL] == "1":
            raise MlflowException("experiment is read-only", error_code="INVALID_PARAMETER_VALUE")
        return real_create(experiment_id, **kwargs)

    monkeypatch.setattr(tracker.client, "create_run", create_run)
    reports = run_cohort(study, space, tracker, mini, 3)
    assert [(r.number, r.state) for r in reports] == [(0, "COMPLETE"), (1, "FAIL"), (2, "COMPLETE")]
    assert "experiment is read-only" in reports[1].reason
    trials = study.get_trials()
    assert trials[1].state == TrialState.FAIL
    assert "experiment is read-only" in trials[1].user_attrs[ATTR_REASON]
    assert "mlflow_run_id" not in trials[1].user_attrs
    runs = child_runs(store, tracker)
    assert sorted(runs) == [0, 2]
    assert {runs[n].info.run_id for n in (0, 2)} == {
        trials[n].user_attrs["mlflow_run_id"] for n in (0, 2)
    }
