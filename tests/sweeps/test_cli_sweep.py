"""End to end on the embedded data: run, prune divergence, track, export, retrain, resume."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from sweeps.store import best_trial, load_existing, resolve_store
from sweeps.store.schema import TAG_OUTCOME, TAG_REASON, TAG_ROLE, TAG_STATE, TAG_TRIAL

DIVERGING = {"learning_rate": {"type": "categorical", "choices": [0.001, 3.0]}}


@pytest.fixture
def swept(cli, write_space, tmp_path: Path):
    """A finished 6-trial study whose space includes a learning rate that diverges."""
    space = write_space("diverge", study={"trials": 6}, params=DIVERGING)
    root = tmp_path / "mlruns"
    result = cli("run", space, "--root", root, "--engine", "single", "--quiet")
    assert result.code == 0, result
    return space, root, result


def _best_line(study: optuna.Study) -> str:
    """How the status summary starts its best line: the best trial, or why there is none
    (lr 0.001 on these linear units is ``slow``, a failure, never the best)."""
    best = best_trial(study)
    if best is None:
        return "best: none, every completed trial is a failure ("
    return f"best trial #{best.number}"


def _export_best(
    cli: Callable[..., Any], name: str, study: optuna.Study, out: Path, root: Path
) -> tuple[optuna.trial.FrozenTrial, Any]:
    """``sweeps export`` of the best trial; when every completed trial is a failure it
    refuses, naming them, and ``--pick N`` exports the top one anyway. Returns the
    exported trial and the command's result."""
    res = cli("export", name, "--out", out, "--root", root)
    best = best_trial(study)
    if best is not None:
        return best, res
    assert res.code == 2 and "every completed trial is a failure (" in res.err, res
    assert "--pick N exports trial N anyway" in res.err and not out.exists()
    top = study.best_trial  # Optuna's: the highest value, a failure or not
    return top, cli("export", name, "--pick", str(top.number), "--out", out, "--root", root)


def test_quiet_prints_only_the_final_summary(swept) -> None:
    """``--quiet`` says "only the final summary": no start line, no line per trial."""
    _, root, result = swept
    lines = result.out.splitlines()
    assert not [line for line in lines if line.startswith("trial ")], result.out
    assert "running up to" not in result.out and " in optuna=" not in result.out
    assert lines[0] == "study 'diverge': 6 trial(s)"  # the status summary comes first
    study = load_existing("diverge", resolve_store(root=root))
    assert any(line.startswith(_best_line(study)) for line in lines), result.out


def _runs(root: Path, study: str):
    store = resolve_store(root=root)
    client = MlflowClient(store.tracking_uri)
    exp = client.get_experiment_by_name(study)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"], [
        r for r in runs if r.data.tags.get(TAG_ROLE) == "parent"
    ]


def test_divergence_is_pruned_with_reason_and_tracked(swept) -> None:
    _, root, result = swept
    study = load_existing("diverge", resolve_store(root=root))
    trials = study.get_trials()
    assert len(trials) == 6
    by_lr = {t.number: t.params["learning_rate"] for t in trials}
    assert set(by_lr.values()) == {0.001, 3.0}, "seeded random sampler should try both"
    for t in trials:
        if t.params["learning_rate"] == 3.0:
            assert t.state == optuna.trial.TrialState.PRUNED
            assert t.user_attrs["outcome"] == "diverged"
            assert t.user_attrs["reason"].startswith("diverged at epoch 1 batch ")
            assert t.value is None
        else:
            assert t.state == optuna.trial.TrialState.COMPLETE
            assert math.isfinite(t.value)
    # one child run per trial, with matching state/outcome tags and artifacts
    children, parents = _runs(root, "diverge")
    assert len(parents) == 1
    assert len(children) == 6
    runs = {int(r.data.tags[TAG_TRIAL]): r for r in children}
    assert sorted(runs) == [t.number for t in trials]
    client = MlflowClient(resolve_store(root=root).tracking_uri)
    for t in trials:
        run = runs[t.number]
        assert t.user_attrs["mlflow_run_id"] == run.info.run_id
        assert run.data.tags[TAG_STATE] == t.state.name
        assert run.data.tags[TAG_OUTCOME] == t.user_attrs["outcome"]
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert run.info.status == "FINISHED"
        assert run.data.params["learning_rate"] == str(t.params["learning_rate"])
        assert run.data.params["activation"] == "linear"  # fixed params logged too
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "params.yaml" in artifacts
        if t.state == optuna.trial.TrialState.PRUNED:
            assert run.data.tags[TAG_REASON] == t.user_attrs["reason"]
        else:
            assert "history.csv" in artifacts
            history = client.get_metric_history(run.info.run_id, "val_accuracy")
            assert [m.step for m in history] == [1, 2]
    parent = parents[0]
    assert parent.data.metrics["trials_complete"] + parent.data.metrics["trials_pruned"] == 6
    assert "trials.csv" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "diverged" in result.out


def test_export_retrains_to_same_validation_accuracy(swept, cli, tmp_path: Path) -> None:
    _, root, _ = swept
    study = load_existing("diverge", resolve_store(root=root))
    out = tmp_path / "best.yaml"
    exported, res = _export_best(cli, "diverge", study, out, root)
    assert res.code == 0, res
    params = yaml.safe_load(out.read_text())
    assert params["learning_rate"] == exported.params["learning_rate"]
    res = cli("train", "--params", out, "--root", root, "--no-track")
    # exit 0 when the retrained run is ok, 1 when it is labelled (e.g. slow): same as the trial
    expected_code = 0 if exported.user_attrs["outcome"] == "ok" else 1
    assert res.code == expected_code, res
    assert f"val accuracy {exported.value:.4f}" in res.out
    # JSON too
    pick = [] if best_trial(study) else ["--pick", str(exported.number)]
    res = cli(
        "export", "diverge", *pick, "--out", tmp_path / "best.json", "--format", "json",
        "--root", root,
    )  # fmt: skip
    assert res.code == 0 and (tmp_path / "best.json").read_text().startswith("{")


def test_export_of_a_population_trial_retrains_to_same_validation_accuracy(
    cli, write_space, tmp_path: Path
) -> None:
    """Trials of the population engine, recycled through 2 slots with their own seeds and
    epoch counts, next to a diverging neighbour: the exported best retrains alone, with
    the single engine, to the trial's validation accuracy."""
    params = {
        **DIVERGING,
        "seed": {"type": "categorical", "choices": [1, 2, 3]},
        "epochs": {"type": "categorical", "choices": [1, 2]},
    }
    space = write_space("popexport", study={"trials": 6}, params=params)
    root = tmp_path / "mlruns"
    res = cli("run", space, "--root", root, "--engine", "population", "--cohort-size", "2")
    assert res.code == 0, res
    study = load_existing("popexport", resolve_store(root=root))
    assert {t.user_attrs["mlflow_run_id"] for t in study.trials}  # tracked
    assert study.best_trial.params["learning_rate"] == 0.001
    out = tmp_path / "best.yaml"
    exported, res = _export_best(cli, "popexport", study, out, root)
    assert res.code == 0, res
    res = cli("train", "--params", out, "--root", root, "--no-track")
    assert res.code in (0, 1), res
    assert f"val accuracy {exported.value:.4f}" in res.out


def test_trials_table_csv_and_parquet(swept, cli, tmp_path: Path) -> None:
    _, root, _ = swept
    for name in ("t.csv", "t.parquet"):
        res = cli("trials", "diverge", "--out", tmp_path / name, "--root", root)
        assert res.code == 0, res
        frame = (pd.read_csv if name.endswith("csv") else pd.read_parquet)(tmp_path / name)
        assert len(frame) == 6
        assert frame["mlflow_run_id"].notna().all()
        assert set(frame["state"]) == {"COMPLETE", "PRUNED"}


def test_resume_adds_trials_to_same_study(swept, cli) -> None:
    space, root, _ = swept
    res = cli("run", space, "--root", root, "--trials", "2", "--quiet")
    assert res.code == 0, res
    study = load_existing("diverge", resolve_store(root=root))
    assert len(study.trials) == 8
    children, parents = _runs(root, "diverge")
    assert len(children) == 8 and len(parents) == 1
    # without --trials, a finished study is already at its target: nothing more runs
    res = cli("run", space, "--root", root, "--quiet")
    assert res.code == 0
    assert len(load_existing("diverge", resolve_store(root=root)).trials) == 8


def test_status_shows_counts_and_best(swept, cli) -> None:
    _, root, _ = swept
    res = cli("status", "diverge", "--root", root)
    assert res.code == 0, res
    study = load_existing("diverge", resolve_store(root=root))
    assert "COMPLETE" in res.out and "PRUNED" in res.out and _best_line(study) in res.out
    res = cli("status", "--root", root)
    assert "diverge" in res.out


def test_incompatible_space_on_resume_is_refused(swept, cli, write_space) -> None:
    _, root, _ = swept
    other = write_space("diverge", params={"learning_rate": 0.5})
    res = cli("run", other, "--root", root, "--quiet")
    assert res.code == 2
    assert "exists with a different search space" in res.err
    assert len(res.err.strip().splitlines()) == 1


def test_export_errors_are_one_line_exit_2(cli, write_space, tmp_path: Path) -> None:
    root = tmp_path / "mlruns"
    res = cli("export", "nope", "--root", root)
    assert res.code == 2
    assert (
        res.err.strip() == f"error: study 'nope': not found in optuna=journal:"
        f"{root.resolve() / 'optuna.journal'} mlflow=sqlite:///{root.resolve() / 'mlflow.db'} "
        "(nothing has run there yet)"
    )
    assert not root.exists()  # looking for a study leaves no empty store behind
    # a study whose only trials diverged has nothing to export
    space = write_space("alldiv", study={"trials": 2}, params={"learning_rate": 3.0})
    assert cli("run", space, "--root", root, "--quiet").code == 0
    res = cli("export", "alldiv", "--root", root, "--out", tmp_path / "b.yaml")
    assert res.code == 2
    assert "no completed trial to export (pruned=2)" in res.err
    assert len(res.err.strip().splitlines()) == 1
    assert not (tmp_path / "b.yaml").exists()


def test_params_lists_every_field_with_its_default(cli) -> None:
    from trainer.config import DEFAULTS, FIELD_NAMES

    res = cli("params")
    assert res.code == 0, res
    lines = res.out.splitlines()
    for name in FIELD_NAMES:
        assert any(line.lstrip("│ ").startswith(name + " ") for line in lines), name
    lr_row = next(line for line in lines if line.lstrip("│ ").startswith("learning_rate "))
    assert repr(DEFAULTS["learning_rate"]) in lr_row
