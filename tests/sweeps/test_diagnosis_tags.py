"""Labels, evidence and pre-flight warnings reach the trial, MLflow and the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow import MlflowClient
from optuna.trial import TrialState

from sweeps.store import load_existing, resolve_store
from sweeps.store.schema import TAG_OUTCOME, TAG_ROLE

ZERO_INIT = {
    "hidden_layers": [8, 8],
    "activation": "relu",
    "output_activation": "softmax",
    "weight_init": "zeros",
    "bias_init": "zeros",
    "loss": "crossentropy",
    "optimizer": "adam",
    "learning_rate": 0.001,
    "epochs": 1,
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("diag") / "mlruns"


def _child(root: Path, study: str) -> Any:
    client = MlflowClient(resolve_store(root=root).tracking_uri)
    exp = client.get_experiment_by_name(study)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=10)
    (child,) = [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]
    return client, child


def test_diverged_trial_records_labels_evidence_and_preflight(
    cli: Any, write_space: Any, root: Path, tmp_path: Path
) -> None:
    space = write_space("lin", study={"trials": 1}, params={"learning_rate": 3.0, "epochs": 1})
    res = cli("run", space, "--root", root, "--engine", "single", "--quiet")
    assert res.code == 0, res
    (trial,) = load_existing("lin", resolve_store(root=root)).get_trials()
    assert trial.state == TrialState.PRUNED
    assert trial.user_attrs["outcome"] == "diverged"
    assert trial.user_attrs["labels"] == ["diverged", "exploded"]
    evidence = trial.user_attrs["evidence"]
    assert evidence["epoch"] == 1 and evidence["loss_ratio"] > 10
    codes = [w["code"] for w in trial.user_attrs["preflight"]]
    assert codes == ["mse_linear_output_large_lr", "linear_hidden", "initial_loss"]
    client, child = _child(root, "lin")
    tags = child.data.tags
    assert tags[TAG_OUTCOME] == "diverged"
    assert tags["sweeps.labels"] == "diverged,exploded"
    assert tags["sweeps.evidence.epoch"] == "1"
    assert float(tags["sweeps.evidence.initial_loss"]) > 100
    assert tags["sweeps.preflight"] == ",".join(codes)
    local = client.download_artifacts(child.info.run_id, "preflight.json", str(tmp_path))
    stored = json.loads(Path(local).read_text())
    assert [w["code"] for w in stored] == codes
    assert stored[0]["numbers"]["learning_rate"] == 3.0


def test_symmetric_trial_completes_with_signals_per_epoch(
    cli: Any, write_space: Any, root: Path
) -> None:
    space = write_space("zero", study={"trials": 1}, params=ZERO_INIT)
    res = cli("run", space, "--root", root, "--engine", "single", "--quiet")
    assert res.code == 0, res
    (trial,) = load_existing("zero", resolve_store(root=root)).get_trials()
    assert trial.state == TrialState.COMPLETE  # not diverged: finished, outcome recorded
    assert trial.user_attrs["outcome"] == "symmetric"
    assert trial.user_attrs["labels"] == ["symmetric", "stuck", "dead_units"]
    assert trial.user_attrs["evidence"]["dead_fraction"] == 1.0
    client, child = _child(root, "zero")
    assert child.data.tags["sweeps.labels"] == "symmetric,stuck,dead_units"
    assert child.data.tags["sweeps.preflight"] == "symmetric_init"
    history = client.get_metric_history(child.info.run_id, "dead_fraction")
    assert [(m.step, m.value) for m in history] == [(1, 1.0)]


def test_train_prints_preflight_warnings_before_the_first_epoch(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "zero.yaml"
    path.write_text(yaml.safe_dump(ZERO_INIT))
    res = cli("train", "--params", path, "--no-track")
    assert res.code == 1, res  # not ok
    out = res.out
    assert "warning [symmetric_init]" in out
    assert out.index("warning [symmetric_init]") < out.index("epoch   1")
    assert "outcome: symmetric" in out
    assert "labels: symmetric, stuck, dead_units" in out
    quiet = cli("train", "--params", path, "--no-track", "--quiet")
    assert "warning [symmetric_init]" in quiet.out  # never silent
