"""``sweeps status STUDY --stability``: where a study's runs diverge, and what predicts it.

Two views of the finished trials (COMPLETE and PRUNED; a diverged trial is PRUNED):

* **the stability map**: for each activation x loss x optimizer, the largest learning
  rate that did not diverge and the smallest that did. When the second is below the
  first, the learning rate alone does not decide (the init scale, say, matters too).
* **what predicts divergence**: importances computed on the *failure indicator*, not on
  the objective (which a diverged trial does not have): a temporary in-memory study
  holds a copy of every finished trial with value 1 if it diverged and 0 otherwise, and
  Optuna's fANOVA evaluator ranks the parameters on it. Each parameter also gets the
  single split that best separates diverged from not (``learning_rate >= 0.87:
  9/9 diverged; below: 0/11``), which is readable and works with few trials.

The tables are printed, and stored on the study's parent run as ``stability.csv`` (the
map) and ``stability.json`` (map, importances and splits), with the tag
``sweeps.stability.predictors``.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState

from sweeps.files import csv_text
from sweeps.store import Store, Tracker
from sweeps.store.schema import (
    ARTIFACT_STABILITY_JSON,
    ARTIFACT_STABILITY_MAP,
    ATTR_LABELS,
    ATTR_OUTCOME,
    ATTR_PARAMS,
    TAG_STABILITY_DIVERGED,
    TAG_STABILITY_PREDICTORS,
)

GROUP_BY = ("activation", "loss", "optimizer")


@dataclass(frozen=True)
class StabilityRow:
    """One activation x loss x optimizer cell of the map."""

    activation: str
    loss: str
    optimizer: str
    trials: int
    diverged: int
    max_stable_lr: float | None
    min_diverged_lr: float | None

    @property
    def overlap(self) -> bool:
        """Some learning rate diverged below one that did not: lr alone does not decide."""
        return (
            self.max_stable_lr is not None
            and self.min_diverged_lr is not None
            and self.min_diverged_lr < self.max_stable_lr
        )


@dataclass(frozen=True)
class Predictor:
    """How well one parameter predicts divergence."""

    param: str
    importance: float | None
    split: str
    split_accuracy: float


@dataclass(frozen=True)
class StabilityReport:
    study_name: str
    finished: int
    diverged: int
    rows: tuple[StabilityRow, ...]
    predictors: tuple[Predictor, ...]
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "study": self.study_name,
            "finished_trials": self.finished,
            "diverged_trials": self.diverged,
            "map": [{**asdict(r), "overlap": r.overlap} for r in self.rows],
            "predictors": [asdict(p) for p in self.predictors],
            "note": self.note,
        }


def is_diverged(trial: optuna.trial.FrozenTrial) -> bool:
    return trial.user_attrs.get(ATTR_OUTCOME) == "diverged" or "diverged" in (
        trial.user_attrs.get(ATTR_LABELS) or ()
    )


def _finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return list(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _full_params(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    params = trial.user_attrs.get(ATTR_PARAMS)
    merged = dict(params) if isinstance(params, dict) else {}
    merged.update(trial.params)
    return merged


def stability_map(trials: list[optuna.trial.FrozenTrial]) -> list[StabilityRow]:
    """Largest stable / smallest diverging learning rate per activation x loss x optimizer."""
    from trainer.config import DEFAULTS

    cells: dict[tuple[str, str, str], list[tuple[float, bool]]] = defaultdict(list)
    for t in trials:
        params = {**DEFAULTS, **_full_params(t)}
        key = (str(params["activation"]), str(params["loss"]), str(params["optimizer"]))
        cells[key].append((float(params["learning_rate"]), is_diverged(t)))
    rows = []
    for key in sorted(cells):
        runs = cells[key]
        stable = [lr for lr, bad in runs if not bad]
        bad = [lr for lr, b in runs if b]
        rows.append(
            StabilityRow(
                *key,
                trials=len(runs),
                diverged=len(bad),
                max_stable_lr=max(stable) if stable else None,
                min_diverged_lr=min(bad) if bad else None,
            )
        )
    return rows


def _best_split(values: list[Any], failed: list[bool], categorical: bool) -> tuple[str, float]:
    """The one-rule split of a parameter that best separates diverged from not."""
    n = len(values)
    total_bad = sum(failed)
    best = ("", -1.0)
    if categorical:
        by_value: dict[str, list[bool]] = defaultdict(list)
        for v, f in zip(values, failed, strict=True):
            by_value[json.dumps(v) if isinstance(v, list) else str(v)].append(f)
        parts = []
        correct = 0
        for v, fs in sorted(by_value.items()):
            parts.append(f"{v}: {sum(fs)}/{len(fs)}")
            correct += max(sum(fs), len(fs) - sum(fs))
        return "diverged " + ", ".join(parts), correct / n
    numeric = sorted({float(v) for v in values})
    for lo, hi in itertools.pairwise(numeric):
        cut = math.sqrt(lo * hi) if lo > 0 else (lo + hi) / 2
        above = [f for v, f in zip(values, failed, strict=True) if float(v) >= cut]
        above_bad = sum(above)
        below_bad = total_bad - above_bad
        below_n = n - len(above)
        # predict "diverged" on the side with more failures
        acc_up = (above_bad + (below_n - below_bad)) / n
        acc_down = ((len(above) - above_bad) + below_bad) / n
        acc = max(acc_up, acc_down)
        if acc > best[1]:
            best = (
                f">= {cut:.3g}: {above_bad}/{len(above)} diverged; "
                f"below: {below_bad}/{below_n} diverged",
                acc,
            )
    if best[1] < 0:
        return f"(one value) {total_bad}/{n} diverged", max(total_bad, n - total_bad) / n
    return best


def predictors(trials: list[optuna.trial.FrozenTrial], *, seed: int = 0) -> list[Predictor]:
    """Parameters ranked by how much they predict divergence (fANOVA on the indicator)."""
    failed = [is_diverged(t) for t in trials]
    dists: dict[str, Any] = {}
    for t in trials:
        for name, dist in t.distributions.items():
            dists.setdefault(name, dist)
    varied = [
        name
        for name in dists
        if len({json.dumps(t.params.get(name), default=str) for t in trials}) > 1
    ]
    importances: dict[str, float] = {}
    if varied and 0 < sum(failed) < len(failed) and len(trials) >= 2:
        importances = _importances(trials, failed, varied, seed)
    out = []
    for name in varied:
        usable = [
            (t.params[name], f) for t, f in zip(trials, failed, strict=True) if name in t.params
        ]
        values = [v for v, _ in usable]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        categorical = isinstance(dists[name], CategoricalDistribution) and not numeric
        split, acc = _best_split(values, [f for _, f in usable], categorical)
        out.append(Predictor(name, importances.get(name), split, acc))
    out.sort(key=lambda p: (-(p.importance or 0.0), -p.split_accuracy, p.param))
    return out


def _importances(
    trials: list[optuna.trial.FrozenTrial], failed: list[bool], names: list[str], seed: int
) -> dict[str, float]:
    """fANOVA importances of ``names`` for the diverged indicator (an in-memory study)."""
    temp = optuna.create_study(direction="maximize")
    for t, bad in zip(trials, failed, strict=True):
        params = {n: t.params[n] for n in names if n in t.params}
        dists = {n: t.distributions[n] for n in params}
        temp.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions=dists,
                value=1.0 if bad else 0.0,
                state=TrialState.COMPLETE,
            )
        )
    try:
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
        raw = optuna.importance.get_param_importances(temp, evaluator=evaluator, params=names)
    except (RuntimeError, ValueError):  # e.g. too few trials with all params present
        return {}
    return {k: float(v) for k, v in raw.items()}


def stability_report(study: optuna.Study) -> StabilityReport:
    trials = _finished(study)
    diverged = sum(is_diverged(t) for t in trials)
    note = ""
    if not trials:
        note = "no finished trials yet"
    elif diverged == 0:
        note = "no trial diverged: every learning rate tried is stable"
    elif diverged == len(trials):
        note = "every trial diverged: no stable learning rate found"
    return StabilityReport(
        study.study_name,
        len(trials),
        diverged,
        tuple(stability_map(trials)),
        tuple(predictors(trials)) if trials else (),
        note,
    )


def stability_csv(report: StabilityReport) -> str:
    fields = [*GROUP_BY, "trials", "diverged", "max_stable_lr", "min_diverged_lr", "overlap"]
    return csv_text(({**asdict(r), "overlap": r.overlap} for r in report.rows), fields)


def log_stability(report: StabilityReport, store: Store) -> str:
    """Store the map and predictors on the study's parent run; returns its run id."""
    tracker = Tracker(store, report.study_name)
    run_id = tracker.parent_run_id
    tracker.log_text(run_id, stability_csv(report), ARTIFACT_STABILITY_MAP)
    tracker.log_text(
        run_id, json.dumps(report.to_json(), indent=2, default=str), ARTIFACT_STABILITY_JSON
    )
    top = [p.param for p in report.predictors if (p.importance or 0) > 0][:3]
    tracker.set_tags(
        run_id,
        {
            TAG_STABILITY_PREDICTORS: ",".join(top) or "-",
            TAG_STABILITY_DIVERGED: f"{report.diverged}/{report.finished}",
        },
    )
    tracker.flush()  # stored when the command says so
    return run_id


__all__ = [
    "Predictor",
    "StabilityReport",
    "StabilityRow",
    "is_diverged",
    "log_stability",
    "predictors",
    "stability_map",
    "stability_report",
]
