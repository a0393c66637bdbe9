"""Several objectives: parsing, a multi-objective sweep whose divergent trials are still
pruned, the Pareto front in status and the report, and ``export --pick``; a trial whose
outcome is a failure is never on the front, the knee or picked by a rule (nor, with one
objective, the best)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from optuna.trial import create_trial

from sweeps.analysis.export import best_config, knee, pick_trial
from sweeps.errors import UserError
from sweeps.results import StudyResult
from sweeps.space import parse_space
from sweeps.store import (
    FAILURE_LABELS,
    best_trial,
    is_failure,
    load_existing,
    pareto_front,
    resolve_store,
    summary_best,
)
from sweeps.store.schema import ATTR_OUTCOME, ATTR_PARAMS, STUDY_METRIC, STUDY_METRICS
from trainer.outcome import LABELS


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
        params={  # linear units into softmax learn at 0.01 and 0.1: COMPLETE, not failures
            "hidden_layers": {"depth": {"low": 1, "high": 2}, "width": {"low": 2, "high": 12}},
            "learning_rate": {"type": "categorical", "choices": [0.01, 0.1, 3.0]},
            "output_activation": "softmax",
            "loss": "crossentropy",
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
    smallest = min(
        (t for t in complete if not is_failure(t)), key=lambda t: (t.values[1], t.number)
    )
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


def _labelled(rows: list[tuple[tuple[float, ...], str | None]], names: list[str]) -> optuna.Study:
    """COMPLETE trials with these values and primary outcomes (``None``: no outcome, as a
    trial made elsewhere), in a study whose objectives are ``names``."""
    directions = ["minimize" if n == "seconds_per_epoch" else "maximize" for n in names]
    study = optuna.create_study(directions=directions)
    study.set_user_attr(STUDY_METRIC, names[0])
    if len(names) > 1:
        study.set_user_attr(STUDY_METRICS, names)
    for i, (values, outcome) in enumerate(rows):
        attrs: dict = {ATTR_PARAMS: {"hidden_layers": [i + 1]}}
        if outcome is not None:
            attrs[ATTR_OUTCOME] = outcome
        study.add_trial(
            create_trial(
                values=list(values),
                params={"x": i / 10},
                distributions={"x": optuna.distributions.FloatDistribution(0, 1)},
                user_attrs=attrs,
            )
        )
    return study


def _issue_study() -> optuna.Study:
    """The issue's sweep (val_accuracy up, seconds_per_epoch down): a stuck net at chance
    that is the fastest, a dead_units one that beats #1 on both, a saturated one with the
    highest accuracy. Optuna's own front is #2, #3, #4 and #0; none of the three is a
    trade-off."""
    return _labelled(
        [
            ((0.95, 3.0), "ok"),
            ((0.80, 2.5), "ok"),
            ((0.11, 0.2), "stuck"),
            ((0.93, 0.6), "dead_units"),
            ((0.97, 5.0), "saturated"),
        ],
        ["val_accuracy", "seconds_per_epoch"],
    )


def test_failures_are_never_on_the_front_the_knee_or_picked() -> None:
    study = _issue_study()
    assert sorted(t.number for t in study.best_trials) == [0, 2, 3, 4]  # Optuna counts them
    assert [t.number for t in pareto_front(study)] == [0, 1]  # #1 is back, #3 no longer counts
    assert knee(study).number == 0  # was #3 (dead_units), the balanced point of Optuna's front
    assert pick_trial(study, "best:seconds_per_epoch").number == 1  # not the stuck #2
    assert pick_trial(study, "best:val_accuracy").number == 0  # not the saturated #4
    assert pick_trial(study, None).number == 0
    assert best_trial(study).number == 0
    assert pick_trial(study, "2").number == 2  # asked for by number: exported all the same
    result = StudyResult(study, store=None)  # type: ignore[arg-type]
    assert result.best is not None and result.best.number == 0
    assert [t.number for t in result.pareto] == [0, 1]


def test_status_front_leaves_failures_off_and_names_them() -> None:
    from rich.console import Console

    from sweeps.cli.views import render_pareto

    console = Console(record=True, width=200)
    for part in render_pareto(_issue_study()):
        console.print(part)
    text = console.export_text()
    assert "pareto front: 2 trial(s)" in text
    rows = [line.split() for line in text.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["0", "1"]
    assert rows[0][-1] == "knee"
    assert "left off the front as failures: #2 stuck, #3 dead_units, #4 saturated" in text


def test_the_report_draws_failures_apart_from_the_front() -> None:
    from sweeps.analysis.report.figures.pareto import pareto_section
    from sweeps.analysis.report.figures.style import FAILURE_COLOR

    study = _issue_study()
    section = pareto_section(study, study.get_trials())
    front_table, failures_table = section.html.split("id='pareto-failures'")
    assert re.findall(r"<tr><td class='num'>(\d+)</td>", front_table) == ["0", "1"]
    greyed = re.findall(
        r"<tr class='failure'><td class='num'>(\d+)</td><td>(\w+)</td>", failures_table
    )
    assert greyed == [("2", "stuck"), ("3", "dead_units"), ("4", "saturated")]
    traces = {t.name: t for t in section.figures[0].data}
    assert list(traces["Pareto front"].x) == [0.95, 0.80]
    assert list(traces["dominated"].x) == []
    stuck = traces["stuck (failure, 1)"]
    assert (list(stuck.x), list(stuck.y)) == ([0.11], [0.2])
    assert stuck.marker.color == FAILURE_COLOR and "<b>stuck</b>" in stuck.text[0]
    assert {"dead_units (failure, 1)", "saturated (failure, 1)"} <= set(traces)


def test_every_completed_trial_a_failure_refuses_to_pick_with_the_counts() -> None:
    study = _labelled(
        [((0.11, 0.2), "stuck"), ((0.12, 0.3), "slow"), ((0.10, 0.1), "stuck")],
        ["val_accuracy", "seconds_per_epoch"],
    )
    assert pareto_front(study) == [] and best_trial(study) is None
    message = (
        f"study '{study.study_name}': every completed trial is a failure (stuck=2, slow=1), "
        "so no trial is the best to export; --pick N exports trial N anyway"
    )
    for rule in (None, "knee", "best:val_accuracy", "best:seconds_per_epoch"):
        with pytest.raises(UserError) as info:
            best_config(study, rule)
        assert str(info.value) == message, rule
    trial, params = best_config(study, "1")  # by number: the user asked for it
    assert trial.number == 1 and params == {"hidden_layers": [2]}


def test_a_trial_without_an_outcome_is_no_failure() -> None:
    study = _labelled(
        [((0.9, 1.0), None), ((0.95, 0.5), "slow")], ["val_accuracy", "seconds_per_epoch"]
    )
    assert [t.number for t in pareto_front(study)] == [0]
    assert set(LABELS) - set(FAILURE_LABELS) == {"ok"}


@pytest.mark.parametrize("label", FAILURE_LABELS)
def test_one_objective_a_failure_with_the_best_value_is_never_the_best(label: str) -> None:
    """Every failure label, with one objective: not the best trial, nor Optuna's study
    summary's best as ``status`` lists it, nor the best so far, nor the default export."""
    from sweeps.analysis.anytime import best_so_far

    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name=label, storage=storage, direction="maximize")
    for value, outcome in [(0.8, "ok"), (0.95, label), (0.7, None)]:
        attrs = {ATTR_PARAMS: {}} | ({ATTR_OUTCOME: outcome} if outcome else {})
        study.add_trial(create_trial(value=value, user_attrs=attrs))
    assert study.best_trial.number == 1  # Optuna's
    assert best_trial(study).number == 0
    (summary,) = optuna.get_all_study_summaries(storage)
    assert summary_best(storage, summary).number == 0
    assert [p.number for p in best_so_far(study)] == [0]
    assert pick_trial(study, None).number == 0
