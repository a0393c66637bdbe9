"""``sweeps doctor``: train a config briefly, label it, and rank single changes that fix it.

The doctor is an ordinary, small Optuna study with every probe an MLflow child run
(study ``doctor-<hash>``, the hash of the config and the probe budget), so everything it
tried is in the store like any sweep. Nothing is sampled: each trial is handed its config
and trained through the same trial session as a sweep's trials:

1. the config as given (the baseline), trained for at most :data:`MAX_EPOCHS` epochs on
   at most :data:`MAX_TRAIN` training examples;
2. one-factor-at-a-time changes around it (:func:`candidate_changes`): the hidden
   activation, the output activation (for ``mse``/``quadratic``, or ``crossentropy`` on a
   linear output), the initializer, the init scale, the learning rate (/10, /100,
   /1000, x10), the loss (``crossentropy`` with softmax) and the optimizer.

A change *fixes* the config when its run is ``ok`` and the baseline's is not. The table
ranks fixes first, then by validation accuracy (the last epoch's, also for a run that
diverged: the weights before the non-finite step). Running the doctor again on the same
config and budget reuses the finished probes of its study.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import optuna
from optuna.trial import TrialState

from sweeps.files import csv_text
from sweeps.run.liveness import reap_stale
from sweeps.run.session import run_trial, update_parent
from sweeps.space import SearchSpace, StudySettings
from sweeps.store import Store, Tracker, open_study
from sweeps.store.schema import (
    ATTR_EVIDENCE,
    ATTR_FINAL_VALUE,
    ATTR_LABELS,
    ATTR_OUTCOME,
    ATTR_PREFLIGHT,
    ATTR_REASON,
    ATTR_RUN_ID,
    ATTR_TEST_ACCURACY,
)
from trainer.config import TrainConfig
from trainer.outcome import LABELS

MAX_EPOCHS = 3
"""Epochs per probe unless ``--epochs`` says otherwise."""

MAX_TRAIN = 10_000
"""At most this many examples of the training pool (the first ones) are used."""

MAX_TEST = 2_000
"""At most this many test examples (the first ones)."""

FACTORS = (
    "activation",
    "output",
    "initializer",
    "init_scale",
    "learning_rate",
    "loss",
    "optimizer",
)

MILD = ("dead_units", "saturated")
"""Labels of a run that learns, with a warning; every other label but ``ok`` is a failure."""

ATTR_CHANGE = "doctor.change"
ATTR_FACTOR = "doctor.factor"
TAG_CHANGE = "sweeps.doctor.change"
TAG_FACTOR = "sweeps.doctor.factor"
TAG_BASELINE = "sweeps.doctor.baseline"
TAG_FIXES = "sweeps.doctor.fixes"
BASELINE = "(as given)"


@dataclass(frozen=True)
class Change:
    """One factor changed: a label like ``activation: linear -> sigmoid`` and the overrides."""

    factor: str
    label: str
    params: dict[str, Any]


@dataclass(frozen=True)
class ProbeResult:
    """How the baseline or one change did."""

    change: str
    factor: str
    outcome: str
    labels: tuple[str, ...]
    val_accuracy: float | None
    test_accuracy: float | None
    reason: str
    evidence: dict[str, float] = field(default_factory=dict)
    trial_number: int = -1
    run_id: str = ""

    @property
    def score(self) -> float:
        v = self.val_accuracy
        return v if v is not None and math.isfinite(v) else -1.0

    @property
    def learns(self) -> bool:
        """``ok``, or learning with only a mild label (dead units, saturation)."""
        return self.outcome == "ok" or self.outcome in MILD


@dataclass(frozen=True)
class DoctorReport:
    """The doctor's findings: the baseline, every probe (ranked) and the fixes."""

    study_name: str
    epochs: int
    baseline: ProbeResult
    probes: tuple[ProbeResult, ...]
    warnings: tuple[Any, ...] = ()

    @property
    def fixes(self) -> tuple[ProbeResult, ...]:
        """Changes that fix the baseline, best first (see :func:`is_fix`)."""
        return tuple(p for p in self.probes if is_fix(self.baseline, p))

    def by_change(self) -> dict[str, ProbeResult]:
        return {p.change: p for p in self.probes}


def is_fix(baseline: ProbeResult, probe: ProbeResult) -> bool:
    """A change fixes a failing run (diverged, exploded, symmetric, stuck, slow) when its run
    learns (``ok``, or only a mild label remains: dead units, saturation); it fixes a
    run with a mild label when its run is ``ok``."""
    if baseline.outcome == "ok":
        return False
    if baseline.outcome in MILD:
        return probe.outcome == "ok"
    return probe.learns


def candidate_changes(config: TrainConfig) -> list[Change]:
    """The one-factor-at-a-time changes tried around ``config`` (see the module doc)."""
    changes: list[Change] = []

    def add(factor: str, label: str, **params: Any) -> None:
        merged = {**config.to_dict(), **params}
        if TrainConfig.from_dict(merged) == config:
            return
        if any(c.params == params for c in changes):
            return
        changes.append(Change(factor, label, params))

    for act in ("sigmoid", "tanh", "relu"):
        if act != config.activation:
            add("activation", f"activation: {config.activation} -> {act}", activation=act)
    out = config.output_activation
    if config.loss in ("mse", "quadratic"):
        for new in ("sigmoid", "softmax"):
            if new != out:
                add("output", f"output: {out} -> {new}", output_activation=new)
    elif out == "linear":
        add("output", f"output: {out} -> softmax", output_activation="softmax")
    init = config.weight_init
    init_name = init if init in ("zeros", "ones") else f"{init}({config.weight_init_scale:g})"
    for new in ("glorot_uniform", "he_normal"):
        if new != init or config.weight_init_scale != 1.0:
            add(
                "initializer",
                f"init: {init_name} -> {new}",
                weight_init=new,
                weight_init_scale=1.0,
            )
    if init not in ("zeros", "ones", "constant") and config.weight_init_scale > 0:
        new_scale = float(f"{config.weight_init_scale * 0.1:.6g}")
        scaled: dict[str, Any] = {"weight_init_scale": new_scale}
        label = f"init scale: {config.weight_init_scale:g} -> {new_scale:g}"
        if config.bias_init in ("normal", "truncated_normal", "uniform"):
            scaled["bias_init_scale"] = float(f"{config.bias_init_scale * 0.1:.6g}")
            label += " (weights and biases)"
        add("init_scale", label, **scaled)
    lr = config.learning_rate
    for factor in (0.1, 0.01, 0.001, 10.0):
        new_lr = float(f"{lr * factor:.6g}")
        if new_lr > 10.0 or new_lr < 1e-5:
            continue
        add("learning_rate", f"learning_rate: {lr:g} -> {new_lr:g}", learning_rate=new_lr)
    if config.loss != "crossentropy":
        add(
            "loss",
            f"loss: {config.loss} -> crossentropy+softmax",
            loss="crossentropy",
            output_activation="softmax",
        )
    if config.optimizer != "adam":
        add(
            "optimizer",
            f"optimizer: {config.optimizer} -> adam (lr 0.001)",
            optimizer="adam",
            learning_rate=0.001,
        )
    else:
        add(
            "optimizer",
            "optimizer: adam -> momentum (lr 0.01)",
            optimizer="momentum",
            learning_rate=0.01,
        )
    return changes


def doctor_study_name(config: TrainConfig, epochs: int, max_train: int) -> str:
    """``doctor-<hash>`` of the config and the probe budget."""
    blob = json.dumps(
        {"config": config.to_dict(), "epochs": epochs, "max_train": max_train}, sort_keys=True
    )
    return "doctor-" + hashlib.sha1(blob.encode()).hexdigest()[:10]


def doctor_space(config: TrainConfig, epochs: int, name: str, probes: int) -> SearchSpace:
    """The doctor's study: nothing is sampled, every probe's config is given as is."""
    settings = StudySettings(
        name=name,
        metric="val_accuracy",
        sampler="random",
        seed=0,
        pruner="none",
        trials=probes,
        engine="single",
        description="sweeps doctor: one-factor-at-a-time changes around a config",
    )
    fixed = {**config.to_dict(), "epochs": epochs}
    return SearchSpace(settings, {}, fixed, source="sweeps doctor")


def _subset(data: Any, max_train: int) -> Any:
    from trainer.data import Dataset

    if len(data.y_train) <= max_train and len(data.y_test) <= MAX_TEST:
        return data
    return Dataset(
        f"{data.name}[:{max_train}]",
        data.x_train[:max_train],
        data.y_train[:max_train],
        data.x_test[:MAX_TEST],
        data.y_test[:MAX_TEST],
    )


def _from_trial(t: optuna.trial.FrozenTrial) -> ProbeResult:
    attrs = t.user_attrs
    val = attrs.get(ATTR_FINAL_VALUE)
    test = attrs.get(ATTR_TEST_ACCURACY)
    labels = tuple(attrs.get(ATTR_LABELS) or [attrs.get(ATTR_OUTCOME, "failed")])
    return ProbeResult(
        change=str(attrs.get(ATTR_CHANGE, "?")),
        factor=str(attrs.get(ATTR_FACTOR, "?")),
        outcome=labels[0] if t.state != TrialState.FAIL else "failed",
        labels=labels if t.state != TrialState.FAIL else ("failed",),
        val_accuracy=float(val) if isinstance(val, int | float) else None,
        test_accuracy=float(test) if isinstance(test, int | float) else None,
        reason=str(attrs.get(ATTR_REASON, "")),
        evidence=dict(attrs.get(ATTR_EVIDENCE) or {}),
        trial_number=t.number,
        run_id=str(attrs.get(ATTR_RUN_ID, "")),
    )


def _stored_warnings(trial: optuna.trial.FrozenTrial) -> tuple[Any, ...]:
    from trainer.preflight import PreflightWarning

    stored = trial.user_attrs.get(ATTR_PREFLIGHT) or []
    return tuple(
        PreflightWarning(str(w.get("code")), str(w.get("message")), dict(w.get("numbers") or {}))
        for w in stored
        if isinstance(w, dict)
    )


def _finished(study: optuna.Study) -> dict[str, optuna.trial.FrozenTrial]:
    """Latest COMPLETE/PRUNED trial per change label (reused when the doctor runs again)."""
    done: dict[str, optuna.trial.FrozenTrial] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        change = t.user_attrs.get(ATTR_CHANGE)
        if isinstance(change, str):
            done[change] = t
    return done


def _run_probe(
    study: optuna.Study,
    space: SearchSpace,
    tracker: Tracker,
    data: Any,
    base: TrainConfig,
    change: Change | None,
) -> optuna.trial.FrozenTrial:
    """Train one probe as a trial of the doctor's study (the same trial session as any
    sweep: heartbeat, MLflow child run, outcome) and read it back."""
    label = BASELINE if change is None else change.label
    factor = "baseline" if change is None else change.factor
    params = {**base.to_dict(), **(change.params if change else {})}
    report = run_trial(
        study,
        space,
        tracker,
        dataset=data,
        params=params,
        engine="doctor",
        user_attrs={ATTR_CHANGE: label, ATTR_FACTOR: factor},
        tags={TAG_CHANGE: label, TAG_FACTOR: factor},
    )
    return study.get_trials(deepcopy=False)[report.number]


def rank(probes: Sequence[ProbeResult]) -> list[ProbeResult]:
    """Runs that learn first, then by validation accuracy, then the milder outcome first."""

    def severity(p: ProbeResult) -> int:
        return -LABELS.index(p.outcome) if p.outcome in LABELS else -len(LABELS) - 1

    return sorted(probes, key=lambda p: (not p.learns, -p.score, severity(p)))


def evidence_text(p: ProbeResult) -> str:
    """The numbers behind a probe's label, then its other labels."""
    ev = p.evidence
    nan = float("nan")
    label = p.outcome
    if label == "diverged" and "epoch" in ev:
        text = f"non-finite at epoch {int(ev['epoch'])} batch {int(ev['batch'])}"
    elif label == "exploded":
        ratios = []
        if ev.get("loss_ratio", 0) > 1:
            ratios.append(f"loss x{ev['loss_ratio']:.2g} of initial")
        if ev.get("grad_spike_ratio", 0) > 1:
            ratios.append(f"grad norm x{ev['grad_spike_ratio']:.2g} of its running median")
        text = ", ".join(ratios) or p.reason[:80]
    elif label == "symmetric":
        text = f"{int(ev.get('symmetric_layers', 0))} layer(s) of identical units"
    elif label == "stuck":
        text = (
            f"test acc {ev.get('test_accuracy', nan):.3f} <= chance "
            f"{ev.get('chance_accuracy', nan):.3f}+margin"
        )
    elif label == "slow":
        text = (
            f"loss falling ({ev.get('loss_drop', nan):.1%} below initial) but test acc "
            f"{ev.get('test_accuracy', nan):.3f} still at chance"
        )
    elif label == "dead_units":
        text = f"{ev.get('dead_fraction', nan):.0%} of ReLUs dead"
    elif label == "saturated":
        text = f"{ev.get('saturated_fraction', nan):.0%} of units saturated"
    elif label == "ok" and p.test_accuracy is not None:
        text = f"test acc {p.test_accuracy:.3f}"
    else:
        text = p.reason[:80]
    others = [name for name in p.labels if name != label]
    return text + (f" (+{', '.join(others)})" if others else "")


class DoctorView(Protocol):
    """What :func:`run_doctor` tells whoever watches (the CLI prints it)."""

    def started(self, name: str, store: Store, changes: int, epochs: int, data: Any) -> None: ...

    def probe_done(
        self, result: ProbeResult, warnings: tuple[Any, ...], *, baseline: bool, cached: bool
    ) -> None: ...

    def finished(self, report: DoctorReport) -> None: ...


def run_doctor(
    config: TrainConfig,
    store: Store,
    *,
    view: DoctorView | None = None,
    epochs: int | None = None,
    dataset: Any = None,
    max_train: int = MAX_TRAIN,
    factors: Sequence[str] | None = None,
) -> DoctorReport:
    """Diagnose ``config``: baseline, one-factor changes, a ranked report; all in MLflow.

    ``dataset`` overrides ``config.dataset`` (already loaded); ``factors`` restricts the
    changes to some of :data:`FACTORS`; ``view`` is told of each probe as it ends.
    """
    from trainer.data import load_dataset

    probe_epochs = epochs if epochs is not None else min(config.epochs, MAX_EPOCHS)
    base_config = config.replace(epochs=probe_epochs)
    changes = candidate_changes(base_config)
    if factors is not None:
        changes = [c for c in changes if c.factor in factors]
    name = doctor_study_name(config, probe_epochs, max_train)
    space = doctor_space(base_config, probe_epochs, name, len(changes) + 1)
    data = _subset(
        dataset if dataset is not None else load_dataset(config.dataset), max(max_train, 1)
    )
    study = open_study(space, store)
    tracker = Tracker(store, name)
    reap_stale(study, tracker)
    tracker.reopen_parent()
    if view is not None:
        view.started(name, store, len(changes), probe_epochs, data)
    done = _finished(study)
    results: list[ProbeResult] = []
    warnings: tuple[Any, ...] = ()
    try:
        for change in [None, *changes]:
            label = BASELINE if change is None else change.label
            cached = label in done
            trial = (
                done[label]
                if cached
                else _run_probe(study, space, tracker, data, base_config, change)
            )
            result = _from_trial(trial)
            if change is None:
                warnings = _stored_warnings(trial)
            results.append(result)
            if view is not None:
                view.probe_done(result, warnings, baseline=change is None, cached=cached)
    finally:
        update_parent(study, tracker, with_table=True)
        tracker.end_parent()
    report = DoctorReport(name, probe_epochs, results[0], tuple(rank(results[1:])), warnings)
    if view is not None:
        view.finished(report)
    _log_report(tracker, report)
    return report


def report_rows(report: DoctorReport) -> list[dict[str, Any]]:
    base = report.baseline
    rows = []
    for i, p in enumerate([base, *report.probes]):
        rows.append(
            {
                "rank": i,
                "change": p.change,
                "factor": p.factor,
                "outcome_before": base.outcome,
                "outcome": p.outcome,
                "labels": ",".join(p.labels),
                "val_accuracy": p.val_accuracy,
                "delta_val_accuracy": (
                    p.val_accuracy - base.val_accuracy
                    if p.val_accuracy is not None and base.val_accuracy is not None
                    else None
                ),
                "fixes": is_fix(base, p),
                "evidence": evidence_text(p),
                "trial": p.trial_number,
                "mlflow_run_id": p.run_id,
            }
        )
    return rows


def _log_report(tracker: Tracker, report: DoctorReport) -> None:
    """``doctor.csv`` / ``doctor.json`` and the fixes as tags on the parent run."""
    rows = report_rows(report)
    tracker.log_text(tracker.parent_run_id, csv_text(rows), "doctor.csv")
    payload = {
        "study": report.study_name,
        "epochs": report.epochs,
        "baseline": rows[0],
        "probes": rows[1:],
        "warnings": [w.to_dict() for w in report.warnings],
    }
    tracker.log_text(
        tracker.parent_run_id, json.dumps(payload, indent=2, default=str), "doctor.json"
    )
    tracker.set_tags(
        tracker.parent_run_id,
        {
            TAG_BASELINE: report.baseline.outcome,
            TAG_FIXES: "; ".join(p.change for p in report.fixes)[:5000],
        },
    )
    tracker.flush()  # the report is stored when the command says so


__all__ = [
    "FACTORS",
    "MAX_EPOCHS",
    "MAX_TRAIN",
    "Change",
    "DoctorReport",
    "DoctorView",
    "ProbeResult",
    "candidate_changes",
    "doctor_space",
    "doctor_study_name",
    "rank",
    "run_doctor",
]
