"""``sweeps run`` / ``sweeps worker``: drive a study to its trial count, telling a view."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import optuna

from sweeps.procs import interrupts_remembered
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


PARENT_UPDATE_SECONDS = 5.0
"""Least time between two updates of the study's parent run during a sweep."""


@dataclass(frozen=True)
class SweepSummary:
    study_name: str
    reports: tuple[TrialReport, ...]
    interrupted: bool
    seconds: float
    timed_out: bool = False
    """The time budget ran out: no new trial was started after it (the study resumes)."""


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

    parent_updated = [0.0]

    def record(report: TrialReport) -> None:
        reports.append(report)
        view.trial_done(report, _best(study))
        # The parent's summary costs several MLflow writes: at most every few seconds
        # (populations end many trials per epoch); the final one is in ``finally``.
        if time.perf_counter() - parent_updated[0] >= PARENT_UPDATE_SECONDS:
            update_parent(study, tracker)
            parent_updated[0] = time.perf_counter()

    def claim() -> optuna.Trial | None:
        claimed = claim_trials(study, store, space, target, 1)
        return claimed[0] if claimed else None

    interrupted = False
    done = 0 if trials is not None else min(accounted_trials(study), target)
    view.start(study.study_name, target, _best(study), completed=done)
    try:
        with interrupts_remembered():  # a Ctrl-C that a library turns into an error too
            while not stop_now():
                if (left := remaining()) <= 0:
                    # Topped up, but trials may still run in other workers: if one of them
                    # dies, its retry is queued and must run before the study is done.
                    if trials is not None or not wait_for_running(study, tracker, stop_now):
                        break
                    left = 1
                reap_stale(study, tracker)
                warm_up()
                # topping up: count and ask atomically, or N workers overshoot the target
                ask = None if trials is not None else claim
                if engine == "population":
                    _population(
                        study, space, tracker, size, left, remaining, trials, stop_now, record, ask
                    )
                else:
                    trial = ask() if ask is not None else None
                    if ask is not None and trial is None:
                        continue  # another worker took the last slot
                    record(run_trial(study, space, tracker, trial=trial))
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


def _population(
    study: optuna.Study,
    space: SearchSpace,
    tracker: Tracker,
    size: int | None,
    left: int,
    remaining: Callable[[], int],
    trials: int | None,
    stop: Callable[[], bool] | None,
    record: Callable[[TrialReport], None],
    ask: Callable[[], optuna.Trial | None] | None,
) -> None:
    """The population engine's turn of the loop: up to ``size`` (default: the machine's
    limit) trials live in slots, asked one at a time as slots free (through ``ask`` when
    given: the atomic top-up), until ``left`` more trials have been asked and
    ``remaining()`` wants no more."""
    from sweeps.run.population import default_cohort_size, run_population

    def wanted(asked: int, live: int) -> int:
        # --trials N counts reported trials; the top-up counts running ones already
        more = remaining() - (live if trials is not None else 0)
        return max(more, left - asked)

    k = min(size or default_cohort_size(space), max(left, remaining()))
    run_population(
        study, space, tracker, None, k, wanted=wanted, stop=stop, on_report=record, ask=ask
    )


def _best(study: optuna.Study) -> tuple[int, float] | None:
    best = best_trial(study)
    value = primary_value(best) if best else None
    return (best.number, value) if best and value is not None else None
