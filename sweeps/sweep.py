"""``sweeps run`` / ``sweeps worker``: drive a study to its trial count with a live view."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from sweeps.live import LiveView
from sweeps.runner import TrialReport, run_trial, update_parent
from sweeps.space import SearchSpace
from sweeps.store import Store
from sweeps.study import open_study
from sweeps.tracking import Tracker

optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class SweepSummary:
    study_name: str
    reports: tuple[TrialReport, ...]
    interrupted: bool
    seconds: float


def accounted_trials(study: optuna.Study) -> int:
    """Trials that count towards the study's target: finished, running or queued.

    A trial failed as stale (dead worker) and re-queued by the retry callback is counted
    once, through its retry, not twice.
    """
    trials = study.get_trials(deepcopy=False)
    retried = {
        n
        for t in trials
        if (n := optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t))
        is not None
    }
    return sum(1 for t in trials if not (t.state == TrialState.FAIL and t.number in retried))


def choose_engine(space: SearchSpace, requested: str) -> str:
    """``auto`` picks the population engine when the space allows it."""
    if requested != "auto":
        return requested
    try:
        from sweeps.population import can_use_population
    except ImportError:  # pragma: no cover - population engine not installed
        return "single"
    return "population" if can_use_population(space) else "single"


def run_sweep(
    space: SearchSpace,
    store: Store,
    *,
    trials: int | None,
    engine: str = "auto",
    cohort_size: int | None = None,
    view: LiveView | None = None,
    stop: Callable[[], bool] | None = None,
) -> SweepSummary:
    """Run ``trials`` more trials (or top the study up to ``study.trials``)."""
    started = time.perf_counter()
    study = open_study(space, store)
    tracker = Tracker(store, space.settings.name)
    tracker.reopen_parent()
    if store.is_rdb:
        optuna.storages.fail_stale_trials(study)
        _kill_orphan_runs(study, tracker)
    engine = choose_engine(space, engine if engine != "auto" else space.settings.engine)
    size = cohort_size or space.settings.cohort_size
    reports: list[TrialReport] = []
    target = trials if trials is not None else space.settings.trials
    view = view or LiveView(quiet=True)

    def remaining() -> int:
        if trials is not None:
            return trials - len(reports)
        return target - accounted_trials(study)

    interrupted = False
    view.start(study.study_name, target, _best(study))
    try:
        while (left := remaining()) > 0 and not (stop and stop()):
            if store.is_rdb:
                optuna.storages.fail_stale_trials(study)
            if engine == "population":
                from sweeps.population import default_cohort_size, run_cohort

                k = min(left, size or default_cohort_size(space))
                batch = run_cohort(study, space, tracker, None, k)
            else:
                batch = [run_trial(study, space, tracker, None)]
            for report in batch:
                reports.append(report)
                view.trial_done(report, _best(study))
            update_parent(study, tracker)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        view.stop()
        update_parent(study, tracker, with_table=True)
        tracker.end_parent()
    return SweepSummary(
        study.study_name, tuple(reports), interrupted, time.perf_counter() - started
    )


def _best(study: optuna.Study) -> tuple[int, float] | None:
    from sweeps.study import best_trial

    best = best_trial(study)
    return (best.number, float(best.value)) if best and best.value is not None else None


def _kill_orphan_runs(study: optuna.Study, tracker: Tracker) -> None:
    """Runs of trials that Optuna failed as stale are still RUNNING: end them KILLED."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        run_id = t.user_attrs.get("mlflow_run_id")
        if not run_id:
            continue
        run = tracker.client.get_run(run_id)
        if run.info.status == "RUNNING":
            tracker.kill_run(run_id, "worker died (heartbeat stale); trial retried")


def summarize(reports: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in reports:
        out[r.outcome] = out.get(r.outcome, 0) + 1
    return out
