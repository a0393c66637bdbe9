"""The stability map of a study: largest stable / smallest diverging learning rate per
activation x loss x optimizer, and which parameters predict divergence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from sweeps.analysis.stability import predictors, stability_map, stability_report
from sweeps.runner.single import run_trial, update_parent
from sweeps.space import parse_space
from sweeps.store import Store, Tracker, load_existing, open_study, resolve_store
from tests._cases import TINY_PARAMS

LRS = [0.001, 0.01, 0.3, 3.0]
ACTIVATIONS = ["linear", "sigmoid"]


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, str]:
    """A real 8-trial study: every learning rate x {linear, sigmoid}, 1 epoch each.

    With N(0,1) init, mse on a linear output and SGD, linear units diverge at the large
    learning rates and sigmoid units never do.
    """
    store = resolve_store(root=tmp_path_factory.mktemp("stability") / "mlruns")
    space = parse_space(
        {
            "study": {"name": "stab", "sampler": "random", "pruner": "none", "trials": 8},
            "params": {
                **TINY_PARAMS,
                "epochs": 1,
                "activation": {"type": "categorical", "choices": ACTIVATIONS},
                "learning_rate": {"type": "categorical", "choices": LRS},
            },
        }
    )
    study = open_study(space, store)
    tracker = Tracker(store, "stab")
    for act in ACTIVATIONS:
        for lr in LRS:
            study.enqueue_trial({"activation": act, "learning_rate": lr})
            run_trial(study, space, tracker)
    update_parent(study, tracker, with_table=True)
    tracker.end_parent()
    return store, "stab"


def test_map_from_a_real_study(swept: tuple[Store, str]) -> None:
    store, name = swept
    study = load_existing(name, store)
    trials = study.get_trials()
    assert {t.state for t in trials} == {TrialState.COMPLETE, TrialState.PRUNED}
    report = stability_report(study)
    assert report.finished == 8
    rows = {r.activation: r for r in report.rows}
    assert set(rows) == {"linear", "sigmoid"}
    linear, sigmoid = rows["linear"], rows["sigmoid"]
    assert (linear.loss, linear.optimizer, linear.trials) == ("mse", "sgd", 4)
    assert linear.diverged >= 2
    assert linear.min_diverged_lr is not None and linear.min_diverged_lr <= 0.3
    assert linear.max_stable_lr is not None and linear.max_stable_lr < linear.min_diverged_lr
    assert not linear.overlap
    assert sigmoid.diverged == 0
    assert sigmoid.max_stable_lr == 3.0 and sigmoid.min_diverged_lr is None
    assert report.diverged == linear.diverged
    # importance on the diverged indicator: PRUNED trials included
    preds = {p.param: p for p in report.predictors}
    assert set(preds) == {"activation", "learning_rate"}
    assert all(p.importance is not None for p in preds.values())
    assert sum(p.importance or 0.0 for p in preds.values()) == pytest.approx(1.0)
    assert "linear: " in preds["activation"].split and "sigmoid: 0/4" in preds["activation"].split
    assert preds["learning_rate"].split.startswith(">= ")


def test_status_stability_prints_and_stores_on_the_parent_run(
    swept: tuple[Store, str], cli: Any
) -> None:
    store, name = swept
    res = cli("status", name, "--stability", "--root", store.root)
    assert res.code == 0, res
    assert "stability map" in res.out
    assert "what predicts divergence" in res.out
    assert "learning_rate" in res.out and "activation" in res.out
    client = MlflowClient(store.tracking_uri)
    parent = client.get_run(Tracker(store, name).parent_run_id)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"stability.csv", "stability.json"} <= artifacts
    local = client.download_artifacts(parent.info.run_id, "stability.json", str(store.root))
    stored = json.loads(Path(local).read_text())
    assert {row["activation"] for row in stored["map"]} == {"linear", "sigmoid"}
    assert parent.data.tags["sweeps.stability.diverged"].endswith("/8")
    assert "activation" in parent.data.tags["sweeps.stability.predictors"] or (
        "learning_rate" in parent.data.tags["sweeps.stability.predictors"]
    )


# --------------------------------------------------------------------------- pure logic


def _trial(act: str, lr: float, diverged: bool, state: TrialState) -> optuna.trial.FrozenTrial:
    return create_trial(
        params={"activation": act, "learning_rate": lr},
        distributions={
            "activation": CategoricalDistribution(["relu", "tanh"]),
            "learning_rate": FloatDistribution(1e-4, 10, log=True),
        },
        value=None if state == TrialState.PRUNED else 0.5,
        state=state,
        user_attrs={
            "outcome": "diverged" if diverged else "ok",
            "params": {"activation": act, "learning_rate": lr, "loss": "crossentropy"},
        },
    )


def test_learning_rate_threshold_is_found_with_pruned_trials() -> None:
    trials = [
        _trial(act, lr, lr >= 1.0, TrialState.PRUNED if lr >= 1.0 else TrialState.COMPLETE)
        for act in ("relu", "tanh")
        for lr in (0.001, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0)
    ]
    rows = {r.activation: r for r in stability_map(trials)}
    assert rows["relu"].max_stable_lr == 0.5 and rows["relu"].min_diverged_lr == 1.0
    assert rows["tanh"].optimizer == "adam"  # the default fills what the trial lacks
    preds = {p.param: p for p in predictors(trials)}
    assert preds["learning_rate"].split_accuracy == 1.0
    assert preds["learning_rate"].importance is not None
    assert preds["learning_rate"].importance > (preds["activation"].importance or 0.0)
    assert preds["activation"].split == "diverged relu: 3/7, tanh: 3/7"


def test_overlap_and_no_divergence() -> None:
    trials = [
        _trial("relu", 0.1, True, TrialState.PRUNED),
        _trial("relu", 1.0, False, TrialState.COMPLETE),
    ]
    assert stability_map(trials)[0].overlap
    calm = [_trial("relu", lr, False, TrialState.COMPLETE) for lr in (0.1, 1.0)]
    preds = predictors(calm)
    assert all(p.importance is None for p in preds)  # nothing to explain
