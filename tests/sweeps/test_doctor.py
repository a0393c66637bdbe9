"""``sweeps doctor`` on the two classic failures, on the embedded mnist-mini data.

* 784-30-10 linear, N(0,1) weights and biases, mse, SGD lr 3.0, batch 10: diverges on
  the third batch; squashing units and a much lower learning rate fix it.
* 784-16-16-10 ReLU with an all-zero init: every unit identical, stuck at chance; a
  non-zero initializer fixes it.

The fast tests restrict the doctor to the factors they assert on; the full runs (every
factor, through the CLI) are marked slow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow import MlflowClient
from optuna.trial import TrialState
from rich.console import Console

from sweeps.analysis.doctor import (
    DoctorReport,
    ProbeResult,
    candidate_changes,
    doctor_study_name,
    evidence_text,
    is_fix,
    run_doctor,
)
from sweeps.cli.views import DoctorConsoleView
from sweeps.store import Store, load_existing, resolve_store
from sweeps.store.schema import TAG_OUTCOME, TAG_ROLE
from tests._cases import DIVERGING_NET
from trainer.config import TrainConfig
from trainer.data import Dataset

LINEAR = {**DIVERGING_NET, "epochs": 3}
ZERO = {
    "hidden_layers": [16, 16],
    "activation": "relu",
    "weight_init": "zeros",
    "bias_init": "zeros",
    "epochs": 3,
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return resolve_store(root=tmp_path_factory.mktemp("doctor") / "mlruns")


def doctor(config: dict[str, Any], store: Store, data: Dataset, **kw: Any) -> tuple[Any, str]:
    console = Console(record=True, width=200)
    view = DoctorConsoleView(console, quiet=True)
    report = run_doctor(TrainConfig.from_dict(config), store, view=view, dataset=data, **kw)
    return report, console.export_text()


@pytest.fixture(scope="module")
def linear_report(store: Store, mini: Dataset) -> tuple[DoctorReport, str]:
    return doctor(LINEAR, store, mini, factors=("activation", "learning_rate"))


@pytest.fixture(scope="module")
def zero_report(store: Store, mini: Dataset) -> tuple[DoctorReport, str]:
    return doctor(ZERO, store, mini, factors=("initializer", "activation"))


# --------------------------------------------------------------------------- the changes


def test_changes_are_one_factor_each_and_never_a_no_op() -> None:
    config = TrainConfig.from_dict(LINEAR)
    changes = candidate_changes(config)
    labels = [c.label for c in changes]
    assert "activation: linear -> sigmoid" in labels
    assert "learning_rate: 3 -> 0.003" in labels
    assert "init scale: 1 -> 0.1 (weights and biases)" in labels
    assert "loss: mse -> crossentropy+softmax" in labels
    assert {c.factor for c in changes} == {
        "activation",
        "output",
        "initializer",
        "init_scale",
        "learning_rate",
        "loss",
        "optimizer",
    }
    for change in changes:
        assert config.replace(**change.params) != config
    assert not [c for c in changes if c.params.get("learning_rate", 0) > 10]
    zero = [c.label for c in candidate_changes(TrainConfig.from_dict(ZERO))]
    assert "init: zeros -> he_normal" in zero
    assert not [c for c in zero if c.startswith("init scale")]  # zeros has no scale
    assert not [c for c in zero if c.startswith("loss")]  # already crossentropy


def test_study_name_hashes_config_and_budget() -> None:
    config = TrainConfig.from_dict(LINEAR)
    name = doctor_study_name(config, 3, 10_000)
    assert name.startswith("doctor-") and len(name) == len("doctor-") + 10
    assert name == doctor_study_name(config, 3, 10_000)
    assert name != doctor_study_name(config, 2, 10_000)
    assert name != doctor_study_name(config.replace(learning_rate=1.0), 3, 10_000)


# --------------------------------------------------------------------------- classic cases


def test_linear_net_diverges_and_squashing_or_lower_lr_fix_it(linear_report: Any) -> None:
    report, text = linear_report
    assert report.baseline.outcome == "diverged"
    assert "exploded" in report.baseline.labels
    fixes = {p.change: p for p in report.fixes}
    assert "activation: linear -> sigmoid" in fixes
    assert any(c.startswith("learning_rate: 3 -> ") for c in fixes)
    assert fixes["learning_rate: 3 -> 0.003"].outcome == "ok"
    for p in fixes.values():  # a fix learns: clearly better than the diverged baseline
        assert p.val_accuracy is not None and p.val_accuracy > report.baseline.val_accuracy
    # the probes that keep the linear units and a large step still diverge
    assert report.by_change()["learning_rate: 3 -> 0.3"].outcome == "diverged"
    # ranked: fixes first, by validation accuracy
    assert report.probes[: len(report.fixes)] == report.fixes
    scores = [p.score for p in report.fixes]
    assert scores == sorted(scores, reverse=True)
    # printed: pre-flight warnings, the diagnosis, the ranked table, the fixes
    assert "warning [mse_linear_output_large_lr]" in text
    assert "warning [initial_loss]" in text
    assert "baseline: diverged (diverged, exploded)" in text
    assert "single changes ranked; baseline diverged" in text
    assert "fix: activation: linear -> sigmoid: diverged -> " in text
    assert "fix: learning_rate: 3 -> 0.003: diverged -> ok" in text


def test_zero_init_is_symmetric_and_a_random_initializer_fixes_it(zero_report: Any) -> None:
    report, text = zero_report
    assert report.baseline.outcome == "symmetric"
    assert {"symmetric", "stuck"} <= set(report.baseline.labels)
    assert report.fixes, text
    assert {p.factor for p in report.fixes} == {"initializer"}
    assert {p.change for p in report.fixes} == {
        "init: zeros -> glorot_uniform",
        "init: zeros -> he_normal",
    }
    for p in report.fixes:
        assert p.outcome == "ok" and p.val_accuracy is not None and p.val_accuracy > 0.8
    # changing the activation alone leaves the units identical
    for p in report.probes:
        if p.factor == "activation":
            assert "symmetric" in p.labels
    assert "warning [symmetric_init]" in text
    assert "fix: init: zeros -> he_normal: symmetric -> ok" in text


def test_doctor_is_a_tracked_study(linear_report: Any, store: Store) -> None:
    report, _ = linear_report
    study = load_existing(report.study_name, store)
    trials = study.get_trials()
    assert len(trials) == 1 + len(report.probes)
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    baseline = trials[0]
    assert baseline.user_attrs["doctor.change"] == "(as given)"
    assert baseline.state == TrialState.PRUNED  # diverged
    assert baseline.user_attrs["labels"] == ["diverged", "exploded"]
    assert baseline.user_attrs["params"]["learning_rate"] == 3.0
    assert baseline.user_attrs["params"]["epochs"] == 3
    assert "mse_linear_output_large_lr" in [w["code"] for w in baseline.user_attrs["preflight"]]
    client = MlflowClient(store.tracking_uri)
    exp = client.get_experiment_by_name(report.study_name)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=100)
    children = [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]
    parents = [r for r in runs if r.data.tags.get(TAG_ROLE) == "parent"]
    assert len(children) == len(trials) and len(parents) == 1
    by_change = {r.data.tags["sweeps.doctor.change"]: r for r in children}
    sigmoid = by_change["activation: linear -> sigmoid"]
    assert sigmoid.data.params["activation"] == "sigmoid"
    assert sigmoid.data.params["learning_rate"] == "3.0"
    assert (
        sigmoid.data.tags[TAG_OUTCOME]
        == report.by_change()[sigmoid.data.tags["sweeps.doctor.change"]].outcome
    )
    base_run = by_change["(as given)"]
    assert base_run.data.tags["sweeps.labels"] == "diverged,exploded"
    assert base_run.data.tags["sweeps.evidence.epoch"] == "1"
    parent = parents[0]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"doctor.csv", "doctor.json", "trials.csv"} <= artifacts
    assert "activation: linear -> sigmoid" in parent.data.tags["sweeps.doctor.fixes"]


def test_running_again_reuses_the_finished_probes(store: Store, mini: Dataset) -> None:
    report, text = doctor(LINEAR, store, mini, factors=("activation", "learning_rate"))
    study = load_existing(report.study_name, store)
    assert len(study.get_trials()) == 1 + len(report.probes)  # nothing retrained
    assert report.fixes
    assert "warning [mse_linear_output_large_lr]" in text  # kept on the baseline trial


def test_slow_is_a_failure_with_its_numbers_and_exploded_names_its_scale() -> None:
    def probe(outcome: str, **evidence: float) -> ProbeResult:
        return ProbeResult("x", "f", outcome, (outcome,), 0.1, 0.11, "why", dict(evidence))

    slow = probe("slow", loss_drop=0.034, test_accuracy=0.1128)
    assert (
        evidence_text(slow)
        == "loss falling (3.4% below initial) but test acc 0.113 still at chance"
    )
    assert is_fix(slow, probe("ok")) and not is_fix(probe("ok"), slow)
    exploded = probe("exploded", loss_ratio=12.0, grad_spike_ratio=340.0)
    assert evidence_text(exploded) == (
        "loss x12 of initial, grad norm x3.4e+02 of its running median"
    )


# --------------------------------------------------------------------------- full CLI runs


@pytest.mark.slow
@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (LINEAR, ["fix: activation: linear -> sigmoid", "fix: learning_rate: 3 -> 0.003"]),
        (ZERO, ["fix: init: zeros -> glorot_uniform", "fix: init: zeros -> he_normal"]),
    ],
    ids=["linear-diverges", "zero-init-stuck"],
)
def test_cli_doctor_full(cli: Any, tmp_path: Path, params: dict[str, Any], expected: list[str]):
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(params))
    res = cli("doctor", "--params", path, "--root", tmp_path / "mlruns")
    assert res.code == 0, res
    for line in expected:
        assert line in res.out, res.out
    assert "single changes ranked" in res.out
