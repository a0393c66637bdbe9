"""The doctor's study: each probe trained as a trial (the same trial session as a sweep's),
read back as a :class:`ProbeResult` (or reused when the doctor runs again), and the report
stored on the study's parent run."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, Protocol

import optuna
from optuna.trial import TrialState

from sweeps.analysis.doctor.changes import Change, candidate_changes
from sweeps.analysis.doctor.findings import DoctorReport, ProbeResult, rank, report_rows
from sweeps.files import csv_text
from sweeps.runner.liveness import reap_stale
from sweeps.runner.single import run_trial, update_parent
from sweeps.space import SearchSpace, StudySettings
from sweeps.store import Store, Tracker, open_study
from sweeps.store.schema import (
    ARTIFACT_DOCTOR_JSON,
    ARTIFACT_DOCTOR_TABLE,
    ATTR_DOCTOR_CHANGE,
    ATTR_DOCTOR_FACTOR,
    ATTR_EVIDENCE,
    ATTR_FINAL_VALUE,
    ATTR_LABELS,
    ATTR_OUTCOME,
    ATTR_PREFLIGHT,
    ATTR_REASON,
    ATTR_RUN_ID,
    ATTR_TEST_ACCURACY,
    TAG_DOCTOR_BASELINE,
    TAG_DOCTOR_CHANGE,
    TAG_DOCTOR_FACTOR,
    TAG_DOCTOR_FIXES,
)
from trainer.config import TrainConfig

MAX_EPOCHS = 3
"""Epochs per probe unless ``--epochs`` says otherwise."""

MAX_TRAIN = 10_000
"""At most this many examples of the training pool (the first ones) are used."""

MAX_TEST = 2_000
"""At most this many test examples (the first ones)."""

BASELINE = "(as given)"


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
        change=str(attrs.get(ATTR_DOCTOR_CHANGE, "?")),
        factor=str(attrs.get(ATTR_DOCTOR_FACTOR, "?")),
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
        change = t.user_attrs.get(ATTR_DOCTOR_CHANGE)
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
        user_attrs={ATTR_DOCTOR_CHANGE: label, ATTR_DOCTOR_FACTOR: factor},
        tags={TAG_DOCTOR_CHANGE: label, TAG_DOCTOR_FACTOR: factor},
    )
    return study.get_trials(deepcopy=False)[report.number]


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
    from trainer.inputs import dataset_for

    probe_epochs = epochs if epochs is not None else min(config.epochs, MAX_EPOCHS)
    base_config = config.replace(epochs=probe_epochs)
    changes = candidate_changes(base_config)
    if factors is not None:
        changes = [c for c in changes if c.factor in factors]
    name = doctor_study_name(config, probe_epochs, max_train)
    space = doctor_space(base_config, probe_epochs, name, len(changes) + 1)
    data = _subset(dataset if dataset is not None else dataset_for(config), max(max_train, 1))
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


def _log_report(tracker: Tracker, report: DoctorReport) -> None:
    """``doctor.csv`` / ``doctor.json`` and the fixes as tags on the parent run."""
    rows = report_rows(report)
    tracker.log_text(tracker.parent_run_id, csv_text(rows), ARTIFACT_DOCTOR_TABLE)
    payload = {
        "study": report.study_name,
        "epochs": report.epochs,
        "baseline": rows[0],
        "probes": rows[1:],
        "warnings": [w.to_dict() for w in report.warnings],
    }
    tracker.log_text(
        tracker.parent_run_id, json.dumps(payload, indent=2, default=str), ARTIFACT_DOCTOR_JSON
    )
    tracker.set_tags(
        tracker.parent_run_id,
        {
            TAG_DOCTOR_BASELINE: report.baseline.outcome,
            TAG_DOCTOR_FIXES: "; ".join(p.change for p in report.fixes)[:5000],
        },
    )
    tracker.flush()  # the report is stored when the command says so
