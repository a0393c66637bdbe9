"""``sweeps report``: the HTML page, its sections and notes, and what goes to MLflow.

Most tests build a study by hand (Optuna trials plus real MLflow runs with per-epoch
metrics) so every outcome, including labels the trainer does not emit yet, is covered in
well under a second; one test runs a real sweep through the CLI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pytest
from mlflow import MlflowClient
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial

from sweeps.analysis import report
from sweeps.store import (
    Store,
    Tracker,
    best_trial,
    find_parent_run,
    load_existing,
    optuna_storage,
    resolve_store,
)
from sweeps.store.schema import ARTIFACT_CURVE, ARTIFACT_REPORT

LR = FloatDistribution(1e-4, 10.0, log=True)
SCALE = FloatDistribution(0.0, 2.0)
DISTS: dict[str, BaseDistribution] = {"learning_rate": LR, "weight_init_scale": SCALE}


@dataclass
class Spec:
    """One hand-made trial: how it ended, its params and its per-epoch val_accuracy."""

    state: TrialState
    outcome: str
    params: dict[str, Any]
    curve: list[float] = field(default_factory=list)
    reason: str = ""
    tracked: bool = True  # has an MLflow run with metric histories


def make_study(
    root: Path,
    name: str,
    specs: list[Spec],
    dists: dict[str, BaseDistribution] | None = None,
) -> tuple[optuna.Study, Store]:
    """A study with one MLflow child run per trial, as ``sweeps run`` leaves it."""
    dists = DISTS if dists is None else dists
    store = resolve_store(root=root)
    study = optuna.create_study(
        study_name=name, storage=optuna_storage(store), direction="maximize"
    )
    study.set_user_attr("metric", "val_accuracy")
    tracker = Tracker(store, name)
    for number, spec in enumerate(specs):
        full = {"hidden_layers": [8], "optimizer": "sgd", **spec.params}
        attrs: dict[str, Any] = {
            "params": full,
            "outcome": spec.outcome,
            "reason": spec.reason or f"{spec.outcome} on purpose",
            "test_accuracy": spec.curve[-1] if spec.curve else 0.1,
        }
        if spec.tracked:
            run_id = tracker.start_trial(number, full)
            for epoch, acc in enumerate(spec.curve, start=1):
                tracker.log_epoch(
                    run_id,
                    epoch,
                    {
                        "val_accuracy": acc,
                        "val_loss": 1.0 - acc,
                        "loss": 1.1 - acc,
                        "accuracy": acc,
                        "grad_norm": 0.5 + epoch,
                    },
                )
            tracker.finish_trial(run_id, state=spec.state.name, outcome=spec.outcome)
            attrs["mlflow_run_id"] = run_id
        value = spec.curve[-1] if spec.state == TrialState.COMPLETE else None
        study.add_trial(
            create_trial(
                state=spec.state,
                value=value,
                params=spec.params,
                distributions={k: dists[k] for k in spec.params},
                user_attrs=attrs,
                intermediate_values=dict(enumerate(spec.curve, start=1)),
            )
        )
    tracker.end_parent()
    return study, store


def mixed_specs() -> list[Spec]:
    return [
        Spec(
            TrialState.COMPLETE,
            "ok",
            {"learning_rate": 0.05, "weight_init_scale": 0.5},
            [0.6, 0.8, 0.9],
        ),
        Spec(
            TrialState.COMPLETE,
            "ok",
            {"learning_rate": 0.02, "weight_init_scale": 0.8},
            [0.5, 0.7, 0.8],
        ),
        Spec(
            TrialState.COMPLETE,
            "stuck",
            {"learning_rate": 0.001, "weight_init_scale": 0.0},
            [0.11, 0.11, 0.11],
        ),
        Spec(
            TrialState.PRUNED, "pruned", {"learning_rate": 0.003, "weight_init_scale": 1.2}, [0.3]
        ),
        Spec(
            TrialState.PRUNED,
            "diverged",
            {"learning_rate": 5.0, "weight_init_scale": 1.5},
            reason="diverged at epoch 1 batch 4: loss=inf",
        ),
        Spec(
            TrialState.PRUNED,
            "diverged",
            {"learning_rate": 2.0, "weight_init_scale": 1.0},
            [0.4, 0.2],
            reason="diverged at epoch 3 batch 7: loss=nan",
        ),
        # a label from the colleague's new failure kinds: shown as it is
        Spec(
            TrialState.COMPLETE,
            "symmetric",
            {"learning_rate": 0.01, "weight_init_scale": 0.0},
            [0.2, 0.2, 0.2],
        ),
        Spec(
            TrialState.FAIL,
            "failed",
            {"learning_rate": 0.1, "weight_init_scale": 0.3},
            tracked=False,
            reason="RuntimeError: boom",
        ),
    ]


def section(sections: list[report.Section], anchor: str) -> report.Section:
    return next(s for s in sections if s.anchor == anchor)


def sections_of(study: optuna.Study, store: Store) -> list[report.Section]:
    trials = study.get_trials(deepcopy=False)
    curves, notes = report.collect_curves(study, trials, store)
    return report.build_sections(study, trials, curves, notes)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store for the module (a fresh MLflow database costs seconds); a study each."""
    return tmp_path_factory.mktemp("report") / "mlruns"


@pytest.fixture(scope="module")
def mixed(root: Path) -> tuple[optuna.Study, Store]:
    return make_study(root, "mixed", mixed_specs())


def test_report_is_one_self_contained_page(mixed, tmp_path: Path) -> None:
    study, store = mixed
    out = report.write_report(study, store, tmp_path / "out" / "report.html")
    page = out.read_text()
    for anchor in (
        "summary",
        "history",
        "clock",
        "failure-map",
        "curves",
        "importances",
        "parallel",
        "slices",
        "trials",
    ):
        assert f"<section id='{anchor}'>" in page, anchor
    # plotly.js inline, exactly once, and nothing fetched from the network
    assert page.count("plotly.js v") == 1
    assert not re.search(r"<script[^>]+src=['\"]?https?:", page)
    assert "<script src" not in page
    # one plot div per figure: history, clock, map, curves, importances, parallel, 2 slices
    assert len(re.findall(r"<div class='plot'>", page)) == 8
    for div in (
        "plot-history-0",
        "plot-clock-0",
        "plot-failure-map-0",
        "plot-curves-0",
        "plot-importances-0",
        "plot-parallel-0",
        "plot-slices-0",
        "plot-slices-1",
    ):
        assert f'id="{div}"' in page, div
    assert "<title>sweeps report: mixed</title>" in page


def test_clock_plots_the_best_so_far_against_the_seconds_trials_ended(mixed) -> None:
    """The anytime view: the best-so-far line steps up at the moments completed trials
    beat it (Optuna's own timestamps), and every finished trial is a point there."""
    from sweeps.analysis.anytime import best_so_far
    from sweeps.analysis.report.figures.clock import clock_section

    study, _ = mixed
    trials = study.get_trials()
    section = clock_section(study, trials, "val_accuracy")
    fig = section.figures[0]
    line = next(t for t in fig.data if t.name == "best so far")
    points = best_so_far(study)
    assert list(line.y[:-1]) == [p.value for p in points]
    assert list(line.y) == sorted(line.y)  # maximised: it only rises
    assert list(line.x[:-1]) == sorted(line.x[:-1]) and line.x[0] >= 0
    start = min(t.datetime_start.timestamp() for t in trials)
    best = max((t for t in trials if t.value is not None), key=lambda t: t.value)
    assert points[-1].number == best.number
    assert points[-1].seconds == pytest.approx(best.datetime_complete.timestamp() - start)
    from sweeps.analysis.report.data import FINISHED, trial_value

    dots = sum(len(t.x) for t in fig.data if t.name != "best so far")
    assert dots == sum(t.state in FINISHED and trial_value(t) is not None for t in trials)
    assert f"trial #{best.number}" in section.notes[-1]


def test_summary_counts_by_state_and_outcome_and_best_config(mixed) -> None:
    study, store = mixed
    html = section(sections_of(study, store), "summary").html
    counts = html.split("id='best-config'")[0]
    rows = dict(re.findall(r"</span>(\w+)</td>(.*?)</tr>", counts))
    assert set(rows) == {"ok", "stuck", "pruned", "diverged", "symmetric", "failed"}
    assert re.findall(r"<b>(\d+)</b>", rows["diverged"]) == ["2"]
    assert "<th>COMPLETE</th><th>PRUNED</th><th>FAIL</th>" in counts
    assert "<td>all</td>" in counts and "<b>8</b>" in counts
    assert "Best config: trial #0" in html
    assert "val_accuracy = <b>0.9000</b>" in html
    assert "<tr class=swept><td>learning_rate</td><td>0.05</td></tr>" in html
    assert "<tr><td>optimizer</td><td>sgd</td></tr>" in html  # fixed values too


def test_failure_map_is_learning_rate_by_init_scale_coloured_by_outcome(mixed) -> None:
    study, store = mixed
    sec = section(sections_of(study, store), "failure-map")
    (fig,) = sec.figures
    names = {t.name for t in fig.data}
    assert names == {
        "ok (2)",
        "stuck (1)",
        "pruned (1)",
        "diverged (2)",
        "symmetric (1)",
        "failed (1)",
    }
    assert fig.layout.xaxis.title.text == "learning_rate"
    assert fig.layout.yaxis.title.text == "weight_init_scale"
    assert fig.layout.xaxis.type == "log"  # log-scaled in the space
    assert fig.layout.yaxis.type != "log"
    colors = {t.name.split()[0]: t.marker.color for t in fig.data}
    assert colors["ok"] == report.OUTCOME_COLORS["ok"]
    assert colors["diverged"] == report.OUTCOME_COLORS["diverged"]
    assert len(set(colors.values())) == len(colors)  # every outcome its own colour
    diverged = next(t for t in fig.data if t.name.startswith("diverged"))
    assert sorted(diverged.x) == [2.0, 5.0]
    assert any("loss=inf" in text for text in diverged.text)  # the reason on hover
    assert "learning rate × init scale" in sec.intro


def test_failure_map_picks_the_params_that_separate_outcomes(root: Path, tmp_path: Path) -> None:
    dists: dict[str, BaseDistribution] = {
        "momentum": FloatDistribution(0.0, 0.99),
        "batch_size": IntDistribution(8, 128),
        "epochs": IntDistribution(1, 10),
        "activation": CategoricalDistribution(["relu", "tanh"]),
    }
    specs = []
    for i in range(8):
        bad = i % 2 == 1
        params = {
            "momentum": 0.95 + i * 0.001 if bad else 0.1 + i * 0.01,  # decides the outcome
            "batch_size": 8 + (i * 37) % 120,  # noise
            "epochs": 1 + (i * 3) % 10,  # noise
            "activation": "relu" if i < 4 else "tanh",
        }
        specs.append(
            Spec(TrialState.PRUNED, "diverged", params)
            if bad
            else Spec(TrialState.COMPLETE, "ok", params, [0.5 + i / 100])
        )
    study, store = make_study(root, "fallback", specs, dists)
    trials = study.get_trials()
    assert report.map_axes(trials)[0] == "momentum"
    assert report.separation(trials, "momentum", dists["momentum"]) > 0.9
    sec = section(sections_of(study, store), "failure-map")
    assert sec.figures[0].layout.xaxis.title.text == "momentum"
    assert "best separate the outcomes" in sec.intro


def test_one_swept_param_gives_a_one_dimensional_map(root: Path, tmp_path: Path) -> None:
    specs = [
        Spec(TrialState.COMPLETE, "ok", {"learning_rate": 0.01}, [0.8]),
        Spec(TrialState.PRUNED, "diverged", {"learning_rate": 5.0}),
    ]
    study, store = make_study(root, "one", specs)
    sec = section(sections_of(study, store), "failure-map")
    (fig,) = sec.figures
    assert fig.layout.yaxis.title.text == "outcome"
    assert "the only swept parameter" in sec.intro


def test_too_few_complete_trials_give_notes_not_crashes(root: Path, tmp_path: Path) -> None:
    specs = [
        Spec(TrialState.COMPLETE, "ok", {"learning_rate": 0.01, "weight_init_scale": 1.0}, [0.7]),
        Spec(TrialState.PRUNED, "diverged", {"learning_rate": 5.0, "weight_init_scale": 1.0}),
    ]
    study, store = make_study(root, "few", specs)
    out = report.write_report(study, store, tmp_path / "few.html")
    sections = sections_of(study, store)
    imp = section(sections, "importances")
    assert not imp.figures
    assert "Needs at least 2 COMPLETE trials, the study has 1" in imp.notes[0]
    assert "<p class='note'>Needs at least 2 COMPLETE trials" in out.read_text()
    assert section(sections, "failure-map").figures  # the map still shows both


def test_single_valued_params_are_left_out_with_a_note(root: Path, tmp_path: Path) -> None:
    specs = [
        Spec(TrialState.COMPLETE, "ok", {"learning_rate": lr, "weight_init_scale": 1.0}, [acc])
        for lr, acc in ((0.01, 0.7), (0.02, 0.8), (0.05, 0.75))
    ]
    study, store = make_study(root, "single", specs)
    sections = sections_of(study, store)
    imp = section(sections, "importances")
    assert imp.figures, imp.notes
    assert any("weight_init_scale" in n and "single value" in n for n in imp.notes)
    (bar,) = imp.figures[0].data
    assert list(bar.y) == ["learning_rate"]
    assert len(section(sections, "slices").figures) == 1
    # nothing varies at all: a note, no crash
    same = [
        Spec(TrialState.COMPLETE, "ok", {"learning_rate": 0.01, "weight_init_scale": 1.0}, [a])
        for a in (0.7, 0.8)
    ]
    study, store = make_study(root, "same", same)
    sections = sections_of(study, store)
    assert any(
        "No parameter took more than one value" in n for n in section(sections, "importances").notes
    )
    assert not section(sections, "parallel").figures
    report.write_report(study, store, tmp_path / "same.html")


def test_empty_study_and_study_without_complete_trials(root: Path, tmp_path: Path) -> None:
    study, store = make_study(root, "empty", [])
    page = report.write_report(study, store, tmp_path / "empty.html").read_text()
    assert "The study has no trials yet." in page
    assert "plotly.js v" not in page  # no figure, no 4 MB of JavaScript
    specs = [Spec(TrialState.PRUNED, "diverged", {"learning_rate": 5.0, "weight_init_scale": 1})]
    study, store = make_study(root, "alldiv", specs)
    page = report.write_report(study, store, tmp_path / "alldiv.html").read_text()
    assert "No completed trial yet: no best config." in page
    assert 'id="plot-failure-map-0"' in page


def test_learning_curves_of_best_and_diverged_trials(mixed) -> None:
    study, store = mixed
    trials = study.get_trials()
    curves, notes = report.collect_curves(study, trials, store)
    assert [(c.trial.number, c.role, c.source) for c in curves] == [
        (0, "best", "mlflow"),
        (1, "best", "mlflow"),  # stuck and symmetric trials are COMPLETE, not "best"
        (5, "diverged", "mlflow"),
    ]
    assert curves[0].series["val_accuracy"] == [(1, 0.6), (2, 0.8), (3, 0.9)]
    assert set(curves[0].series) == {"val_accuracy", "val_loss", "loss", "grad_norm"}
    assert any("#4: diverged at epoch 1 batch 4" in n for n in notes)  # no epoch, no curve
    fig = report.curves_figure(curves)
    assert [a.text for a in fig.layout.annotations] == [
        "val_accuracy",
        "val_loss",
        "loss",
        "grad_norm",
    ]
    legend = [t.name for t in fig.data if t.showlegend]
    assert legend == ["#0 ok 0.9000", "#1 ok 0.8000", "#5 diverged"]
    assert fig.layout.yaxis3.type == "log"  # loss panel


def test_curves_fall_back_to_optuna_values_without_mlflow_history(
    root: Path, tmp_path: Path
) -> None:
    specs = [
        Spec(
            TrialState.COMPLETE,
            "ok",
            {"learning_rate": 0.01, "weight_init_scale": 1.0},
            [0.5, 0.6],
            tracked=False,
        ),
    ]
    study, store = make_study(root, "untracked", specs)
    curves, notes = report.collect_curves(study, study.get_trials(), store)
    assert curves[0].source == "optuna"
    assert curves[0].series == {"val_accuracy": [(1, 0.5), (2, 0.6)]}
    assert any("no MLflow metric history" in n for n in notes)
    assert any("No trial diverged." in n for n in notes)


def test_report_and_best_curve_are_logged_to_mlflow(mixed, tmp_path: Path) -> None:
    study, store = mixed
    out = report.write_report(study, store, tmp_path / "elsewhere.html")
    client = MlflowClient(store.tracking_uri)
    parent = find_parent_run(store, study.study_name, [])
    assert parent is not None
    assert client.get_run(parent).info.run_name == "study:mixed"
    local = client.download_artifacts(parent, ARTIFACT_REPORT, str(tmp_path / "dl"))
    assert Path(local).read_text() == out.read_text()
    best_run = study.best_trial.user_attrs["mlflow_run_id"]
    names = {a.path for a in client.list_artifacts(best_run)}
    assert ARTIFACT_CURVE in names
    curve_page = Path(
        client.download_artifacts(best_run, ARTIFACT_CURVE, str(tmp_path / "dl2"))
    ).read_text()
    assert curve_page.count("plotly.js v") == 1 and "trial #0 (best)" in curve_page
    # other trials' runs get nothing
    other = study.trials[1].user_attrs["mlflow_run_id"]
    assert ARTIFACT_CURVE not in {a.path for a in client.list_artifacts(other)}


def test_html_is_escaped(root: Path, tmp_path: Path) -> None:
    specs = [
        Spec(
            TrialState.COMPLETE,
            "ok",
            {"learning_rate": 0.01, "weight_init_scale": 1.0},
            [0.5],
            reason="<script>alert(1)</script>",
        ),
    ]
    study, store = make_study(root, "esc", specs)
    page = report.write_report(study, store, tmp_path / "esc.html").read_text()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_cli_report_on_a_real_sweep(cli, write_space, tmp_path: Path) -> None:
    space = write_space(
        "rep",
        study={"trials": 4},
        params={
            "learning_rate": {"type": "categorical", "choices": [0.001, 3.0]},
            "weight_init_scale": {"type": "float", "low": 0.5, "high": 1.0},
        },
    )
    root = tmp_path / "mlruns"
    assert cli("run", space, "--root", root, "--engine", "single", "--quiet").code == 0
    out = tmp_path / "r" / "rep.html"
    res = cli("report", "rep", "--out", out, "--root", root)
    assert res.code == 0, res
    assert f"report for study 'rep' written to {out}" in res.out.replace("\n", "")
    page = out.read_text()
    study = load_existing("rep", resolve_store(root=root))
    outcomes = {t.user_attrs["outcome"] for t in study.trials}
    for label in outcomes:
        assert f"{label} (" in page  # failure map legend
    best = best_trial(study)  # lr 0.001 on these linear units is `slow`: a failure
    if best is not None:
        assert f"Best config: trial #{best.number}" in page
        # its learning curve, from MLflow
        assert f"#{best.number} {best.user_attrs['outcome']} {best.value:.4f}" in page
    elif any(t.state == TrialState.COMPLETE for t in study.trials):
        assert "Every completed trial is a failure (" in page
        assert "<tr class='failure'>" in page
    res = cli("report", "nope", "--root", root, "--out", tmp_path / "n.html")
    assert res.code == 2 and "study 'nope': not found" in res.err
    assert not (tmp_path / "n.html").exists()


def test_a_failure_with_the_highest_value_is_shown_apart_never_the_best(
    root: Path, tmp_path: Path
) -> None:
    """One objective: a ``slow`` net with the highest val_accuracy is not the best config,
    the best curve, the best so far nor the status' best; the summary lists it apart, its
    rows greyed with its label."""
    from rich.console import Console

    from sweeps.analysis.anytime import best_so_far
    from sweeps.cli.views import render_status
    from sweeps.store import best_trial

    params = {"learning_rate": 0.01, "weight_init_scale": 1.0}
    specs = [
        Spec(TrialState.COMPLETE, "ok", params, [0.6, 0.8]),
        Spec(TrialState.COMPLETE, "slow", {**params, "learning_rate": 0.02}, [0.7, 0.95]),
        Spec(TrialState.COMPLETE, "stuck", {**params, "learning_rate": 0.03}, [0.11, 0.11]),
        Spec(TrialState.COMPLETE, "ok", {**params, "learning_rate": 0.04}, [0.5, 0.7]),
    ]
    study, store = make_study(root, "slowbest", specs)
    assert study.best_trial.number == 1  # Optuna's own best is the failure
    assert best_trial(study).number == 0
    assert [p.number for p in best_so_far(study)] == [0]
    sections = sections_of(study, store)
    summary = section(sections, "summary").html
    assert "Best config: trial #0" in summary
    failures = summary.split("id='failures-above'")[1]
    greyed = re.findall(r"<tr class='failure'><td class='num'>(\d+)</td><td>(\w+)</td>", failures)
    assert greyed == [("1", "slow")]  # stuck #2 scored below the best: not listed here
    table = section(sections, "trials").html
    assert re.findall(r"<tr class='failure'><td class='num'>(\d+)</td>", table) == ["1", "2"]
    assert "<tr><td class='num'>0</td>" in table
    curves, _ = report.collect_curves(study, study.get_trials(), store)
    assert [(c.trial.number, c.role) for c in curves] == [(0, "best"), (3, "best")]
    line = next(t for t in section(sections, "history").figures[0].data if t.name == "best so far")
    assert max(line.y) == 0.8
    page = report.write_report(study, store, tmp_path / "slowbest.html").read_text()
    assert "tr.failure td{color:#9e9e9e}" in page
    console = Console(record=True, width=200)
    console.print(render_status(study))
    assert "best trial #0: val_accuracy=0.8000" in console.export_text()


def test_every_trial_a_failure_gives_no_best_config_and_grey_curves(root: Path) -> None:
    from sweeps.analysis.report.figures.style import FAILURE_COLOR

    params = {"learning_rate": 0.01, "weight_init_scale": 1.0}
    specs = [
        Spec(TrialState.COMPLETE, "stuck", params, [0.11, 0.11]),
        Spec(TrialState.COMPLETE, "slow", {**params, "learning_rate": 0.02}, [0.1, 0.12]),
    ]
    study, store = make_study(root, "allfail", specs)
    summary = section(sections_of(study, store), "summary").html
    assert "Every completed trial is a failure (stuck=1, slow=1): no best config." in summary
    failures = summary.split("id='failures-above'")[1]
    greyed = re.findall(r"<tr class='failure'><td class='num'>(\d+)</td><td>(\w+)</td>", failures)
    assert greyed == [("1", "slow"), ("0", "stuck")]  # best first
    curves, notes = report.collect_curves(study, study.get_trials(), store)
    assert [(c.trial.number, c.role) for c in curves] == [(1, "failure"), (0, "failure")]
    assert any("Every COMPLETE trial is a failure" in n for n in notes)
    fig = report.curves_figure(curves)
    assert {t.line.color for t in fig.data} == {FAILURE_COLOR}
