"""Several objectives: parsing, a multi-objective sweep whose divergent trials are still
pruned, the Pareto front in status and the report, and ``export --pick``."""

from __future__ import annotations

import itertools
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from sweeps.analysis.export import knee, pick_trial
from sweeps.errors import UserError
from sweeps.space import parse_space
from sweeps.store import load_existing, pareto_front, resolve_store


def _settings(**study):
    return parse_space({"study": {"name": "m"} | study, "params": {"epochs": 1}}).settings


def test_metrics_names_dicts_and_directions() -> None:
    s = _settings(metrics=["val_accuracy", {"name": "seconds_per_epoch"}])
    assert s.multi and s.objectives == ("val_accuracy", "seconds_per_epoch")
    assert s.objective_directions == ("maximize", "minimize")
    assert s.pruner == "auto"  # Optuna's pruners need one objective: rungs, or none
    assert s.pruner_for("population") == "asha" and s.pruner_for("single") == "none"
    assert _settings(metrics=["loss", "accuracy"], pruner="asha").pruner == "asha"
    s = _settings(metrics=[{"name": "params_count", "direction": "maximize"}, "val_loss"])
    assert s.objective_directions == ("maximize", "minimize")
    one = _settings(metrics=["val_loss"])
    assert not one.multi and one.metric == "val_loss" and one.direction == "minimize"


@pytest.mark.parametrize(
    ("study", "message"),
    [
        ({"metrics": ["val_accuracy", "f1"]}, "study.metrics[1]: must be one of"),
        ({"metrics": []}, "study.metrics: must be a non-empty list"),
        ({"metrics": ["loss", "loss"]}, "study.metrics[1]: duplicate metric 'loss'"),
        ({"metrics": ["loss"], "metric": "loss"}, "use either metric/direction or metrics"),
        ({"metrics": [{"name": "loss", "direction": "up"}]}, "direction: must be maximize or"),
        ({"metrics": ["loss", "accuracy"], "pruner": "median"}, "pruners need a single objective"),
    ],
)
def test_bad_metrics_name_field_and_value(study: dict, message: str) -> None:
    with pytest.raises(UserError) as info:
        _settings(**study)
    assert any(message in p for p in info.value.problems), info.value.problems


def _fake_study(points: list[tuple[float, float]]) -> optuna.Study:
    study = optuna.create_study(directions=["maximize", "minimize"])
    for acc, size in points:
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        study.tell(trial, [acc, size])
    return study


def test_knee_is_the_balanced_point_and_rules_pick_extremes() -> None:
    study = _fake_study([(0.5, 10), (0.8, 20), (0.9, 100), (0.7, 50)])  # #3 is dominated
    assert [t.number for t in pareto_front(study)] == [0, 1, 2]
    # scaled over the front: #0 (1, 0), #1 (0.25, 0.11), #2 (0, 1): #1 is nearest (0, 0)
    assert knee(study).number == 1
    assert pick_trial(study, "best:value_0").number == 2
    assert pick_trial(study, "best:value_1").number == 0
    assert pick_trial(study, "3").number == 3
    assert pick_trial(study, None).number == 2  # default: front's best on the first
    with pytest.raises(UserError, match="--pick: must be a trial number"):
        pick_trial(study, "middle")


def test_multi_objective_sweep_front_status_report_export(cli, write_space, tmp_path: Path) -> None:
    space = write_space(
        "mo",
        study={"trials": 8, "metrics": ["val_accuracy", "params_count"]},
        params={
            "hidden_layers": {"depth": {"low": 1, "high": 2}, "width": {"low": 2, "high": 12}},
            "learning_rate": {"type": "categorical", "choices": [0.001, 0.01, 3.0]},
            "epochs": 1,
        },
    )
    root = tmp_path / "mlruns"
    assert cli("run", space, "--root", root, "--quiet").code == 0
    study = load_existing("mo", resolve_store(root=root))
    assert len(study.directions) == 2
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert complete
    for t in complete:  # the second objective is the real parameter count
        sizes = [784, *t.user_attrs["params"]["hidden_layers"], 10]
        assert t.values[1] == sum(a * b + b for a, b in itertools.pairwise(sizes))
    # lr 3.0 on linear units diverges: still PRUNED with its reason, not a told value
    diverged = [t for t in trials if t.user_attrs.get("outcome") == "diverged"]
    assert diverged and all(t.state.name == "PRUNED" and t.values is None for t in diverged)

    res = cli("status", "mo", "--root", root)
    assert res.code == 0 and "pareto front:" in res.out and "knee" in res.out, res
    front = pareto_front(study)
    assert all(f" {t.number} " in res.out for t in front)

    out = tmp_path / "small.yaml"
    res = cli("export", "mo", "--pick", "best:params_count", "--out", out, "--root", root)
    assert res.code == 0, res
    smallest = min(complete, key=lambda t: (t.values[1], t.number))
    assert yaml.safe_load(out.read_text()) == smallest.user_attrs["params"]

    csv = tmp_path / "t.csv"
    assert cli("trials", "mo", "--out", csv, "--root", root).code == 0
    frame = pd.read_csv(csv)
    assert {"value_val_accuracy", "value_params_count"} <= set(frame.columns)

    html = tmp_path / "r.html"
    assert cli("report", "mo", "--out", html, "--root", root).code == 0
    page = html.read_text()
    assert "id='pareto'" in page and "id='pareto-table'" in page
    assert '"name":"Pareto front"' in page and '"name":"dominated"' in page
