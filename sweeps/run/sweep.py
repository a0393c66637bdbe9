"""``sweeps run`` / ``sweeps worker``: drive a study to its trial count, telling a view."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import optuna

from sweeps.run.liveness import reap_stale, wait_for_running, warm_up
from sweeps.run.session import TrialReport, run_trial, update_parent
from sweeps.run.topup import claim_trials
from sweeps.space import SearchSpace
from sweeps.store import Store, Tracker, accounted_trials, best_trial, open_study, primary_value


class SweepView(Protocol):
    """What the sweep loop tells whoever watches it (the CLI's live view, or nobody)."""

    def start(
        self, study: str, total: int, best: tuple[int, float] | None, *, completed: int = 0
    ) -> None: ...

    def trial_done(self, report: TrialReport, best: tuple[int, float] | None) -> None: ...

    def stop(self) -> None: ...


class _NoView:
    def start(
        self, study: str, total: int, best: tuple[int, float] | None, *, completed: int = 0
    ) -> None:
        pass

    def trial_done(self, report: TrialReport, best: tuple[int, float] | None) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass(frozen=True)
class SweepSummary:
    study_name: str
    reports: tuple[TrialReport, ...]
    interrupted: bool
    seconds: float
    timed_out: bool = False
    """The time budget ran out: no new trial was started after it (the study resumes)."""


FEEDBACK_ROUNDS = 4
"""An automatic cohort is at most 1/4 of the sweep: TPE and the pruner learn only from
finished trials, so a single cohort of every trial would be a random search."""


def auto_cohort_size(machine_limit: int, target: int) -> int:
    """Cohort size when none is given: the machine's limit, capped for sampler feedback."""
    return max(1, min(machine_limit, -(-target // FEEDBACK_ROUNDS)))


def choose_engine(space: SearchSpace, requested: str) -> str:
    """``auto`` picks the population engine when the space allows it."""
    if requested != "auto":
        return requested
    try:
        from sweeps.run.population import can_use_population
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
    view: SweepView | None = None,
    stop: Callable[[], bool] | None = None,
    timeout: float | None = None,
) -> SweepSummary:
    """Run ``trials`` more trials (or top the study up to ``study.trials``).

    ``timeout`` (seconds, else ``study.timeout``): no trial or cohort starts after it;
    those running finish and are recorded, so the study resumes like any other."""
    started = time.perf_counter()
    budget = timeout if timeout is not None else space.settings.timeout
    user_stop, timed_out = stop, False

    def out_of_time() -> bool:
        return budget is not None and time.perf_counter() - started >= budget

    def stop_now() -> bool:
        return out_of_time() or bool(user_stop and user_stop())

    # Both stores reachable? Checked (opened once, for the whole sweep) before either
    # is written to.
    store.optuna  # noqa: B018
    store.mlflow  # noqa: B018
    study = open_study(space, store)
    tracker = Tracker(store, space.settings.name)
    tracker.reopen_parent()
    reap_stale(study, tracker)
    engine = choose_engine(space, engine if engine != "auto" else space.settings.engine)
    size = cohort_size or space.settings.cohort_size
    reports: list[TrialReport] = []
    target = trials if trials is not None else space.settings.trials
    view = view or _NoView()

    def remaining() -> int:
        if trials is not None:
            return trials - len(reports)
        return target - accounted_trials(study)

    interrupted = False
    done = 0 if trials is not None else min(accounted_trials(study), target)
    view.start(study.study_name, target, _best(study), completed=done)
    try:
        while not stop_now():
            if (left := remaining()) <= 0:
                # Topped up, but trials may still run in other workers: if one of them
                # dies, its retry is queued and must run before the study is done.
                if trials is not None or not wait_for_running(study, tracker, stop_now):
                    break
                left = 1
            reap_stale(study, tracker)
            warm_up()
            k = 1
            if engine == "population":
                from sweeps.run.population import default_cohort_size

                k = min(left, size or auto_cohort_size(default_cohort_size(space), target))
            # topping up: count and ask atomically, or N workers overshoot the target
            asked = None if trials is not None else claim_trials(study, store, space, target, k)
            if asked == []:
                continue  # another worker took the last slot
            if engine == "population":
                from sweeps.run.population import run_cohort

                batch = run_cohort(study, space, tracker, None, k, asked=asked)
            else:
                batch = [run_trial(study, space, tracker, trial=asked[0] if asked else None)]
            for report in batch:
                reports.append(report)
                view.trial_done(report, _best(study))
            update_parent(study, tracker)
        timed_out = out_of_time() and remaining() > 0
    except KeyboardInterrupt:
        interrupted = True
    finally:
        view.stop()
        update_parent(study, tracker, with_table=True)
        tracker.end_parent()
    return SweepSummary(
        study.study_name,
        tuple(reports),
        interrupted,
        time.perf_counter() - started,
        timed_out=timed_out,
    )


def _best(study: optuna.Study) -> tuple[int, float] | None:
    best = best_trial(study)
    value = primary_value(best) if best else None
    return (best.number, value) if best and value is not None else None
