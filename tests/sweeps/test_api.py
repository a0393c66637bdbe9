"""The Python API (``sweeps.run``, ``load``, ``export``, ``report``, ``train``): the same
path as the commands, a result a notebook can use, and the commands' errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import sweeps
from sweeps.errors import UserError
from sweeps.store import pareto_front, trials_frame
from tests._cases import HEALTHY, TINY_PARAMS


def space(name: str, trials: int = 4, **params: Any) -> dict[str, Any]:
    swept = {"learning_rate": {"type": "float", "low": 0.001, "high": 0.05, "log": True}}
    return {
        "study": {"name": name, "sampler": "random", "seed": 0, "pruner": "none", "trials": trials},
        "params": {
            **TINY_PARAMS,
            **HEALTHY,
            "epochs": 1,
            **swept,
            **params,
        },
    }


def test_run_a_dict_and_read_the_result(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    result = sweeps.run(space("api"), root=tmp_path, progress=False, engine="single")
    assert capsys.readouterr().out == ""  # progress=False: nothing printed
    assert result.name == "api" and not result.interrupted and result.exit_code == 0
    assert result.summary is not None and len(result.summary.reports) == 4
    best = result.study.best_trial
    assert result.best is not None and result.best.number == best.number
    assert result.best.value == best.value and result.objectives == ["val_accuracy"]
    assert result.best.params == best.user_attrs["params"]
    assert result.best.params["learning_rate"] == best.params["learning_rate"]
    assert result.best.run_id == best.user_attrs["mlflow_run_id"]
    assert result.pareto == [result.best]
    assert result.trials.equals(trials_frame(result.study))
    # the same study, read back: as a later session (or another notebook) finds it
    again = sweeps.load("api", root=tmp_path)
    assert again.best == result.best and len(again.trials) == 4
    # resumed: the same call tops it up, here by two more
    more = sweeps.run(space("api"), trials=2, root=tmp_path, progress=False, engine="single")
    assert len(more.trials) == 6


def test_export_and_report_from_python_match_the_commands(tmp_path: Path, cli) -> None:
    sweeps.run(space("same", trials=3), root=tmp_path, progress=False)
    done = sweeps.export("same", tmp_path / "api.yaml", root=tmp_path)
    assert cli("export", "same", "--out", tmp_path / "cli.yaml", "--root", tmp_path).code == 0
    assert (tmp_path / "api.yaml").read_text() == (tmp_path / "cli.yaml").read_text()
    assert yaml.safe_load((tmp_path / "api.yaml").read_text()) == done.trial.params
    assert done.model_version is None
    path = sweeps.report("same", tmp_path / "r.html", root=tmp_path)
    assert path.read_text(encoding="utf-8").lstrip().lower().startswith("<!doctype html")
    # an exported config retrains as is, from Python as from the command
    again = sweeps.train(done.path, root=tmp_path, quiet=True)
    assert again.config.to_dict() == done.trial.params


def test_errors_are_the_commands_one_line_errors(tmp_path: Path) -> None:
    bad = space("bad", learning_rate=-0.1)
    with pytest.raises(UserError) as err:
        sweeps.run(bad, root=tmp_path, progress=False)
    assert err.value.problems == ["search space: params.learning_rate: must be > 0, got -0.1"]
    with pytest.raises(UserError, match="--engine: must be one of auto, single, population"):
        sweeps.run(space("e"), root=tmp_path, engine="gpu", progress=False)
    with pytest.raises(UserError, match="trials: must be >= 1, got 0"):
        sweeps.run(space("e"), root=tmp_path, trials=0, progress=False)
    with pytest.raises(UserError, match="--timeout: must be > 0"):
        sweeps.run(space("e"), root=tmp_path, timeout=-1, progress=False)
    with pytest.raises(UserError, match="nothing has run there yet"):
        sweeps.load("e", root=tmp_path / "elsewhere")
    assert not (tmp_path / "elsewhere").exists()
    assert not (tmp_path / "optuna.journal").exists()  # no bad call got as far as a store


def test_several_objectives_give_the_pareto_front(tmp_path: Path) -> None:
    multi = space("multi", trials=6, hidden_layers={"type": "categorical", "choices": [[4], [16]]})
    multi["study"].update(
        metrics=["val_accuracy", {"name": "params_count", "direction": "minimize"}]
    )
    result = sweeps.run(multi, root=tmp_path, progress=False)
    assert result.objectives == ["val_accuracy", "params_count"]
    front = pareto_front(result.study)
    assert [t.number for t in result.pareto] == [t.number for t in front]
    assert set(result.pareto[0].values) == {"val_accuracy", "params_count"}
    assert result.best is not None and result.best.number in {t.number for t in front}


def test_workers_from_python(tmp_path: Path) -> None:
    """A dict space reaches worker processes as a file they read."""
    result = sweeps.run(space("w", trials=4), root=tmp_path, workers=2, progress=False)
    assert result.exit_code == 0 and not result.interrupted
    assert sorted(result.trials["state"]) == ["COMPLETE"] * 4
