"""``sweeps run`` / ``sweeps worker``: drive a study to its trial count, telling a view."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import optuna

from sweeps.procs import interrupts_remembered
from sweeps.runner.liveness import reap_stale, wait_for_running, warm_up
from sweeps.runner.models import ModelKeeper
from sweeps.runner.session import TrialReport
from sweeps.runner.single import run_trial, update_parent
from sweeps.runner.topup import claim_trials
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
        from sweeps.runner.cohort import can_use_population
    except ImportError:  # pragma: no cover - population engine not installed
        return "single"
    return "population" if can_use_population(space) else "single"


@dataclass(frozen=True)
class SweepPlan:
    """What one :func:`run_sweep` call was asked to do, settled before it starts."""

    trials: int | None
    """``--trials N``: N more trials; ``None``: top the study up to :attr:`target`."""
    target: int
    """The trials this call counts towards (N, or ``study.trials``)."""
    engine: str
    """``single`` or ``population`` (``auto`` resolved)."""
    cohort_size: int | None
    """Trials live at once in the population engine (``None``: the machine's limit)."""
    budget: float | None
    """Seconds after which no trial or cohort starts (``None``: no limit)."""

    @classmethod
    def of(
        cls,
        space: SearchSpace,
        *,
        trials: int | None,
        engine: str,
        cohort_size: int | None,
        timeout: float | None,
    ) -> SweepPlan:
        """The plan of a :func:`run_sweep` call: its arguments over the study's settings."""
        settings = space.settings
        return cls(
            trials=trials,
            target=trials if trials is not None else settings.trials,
            engine=choose_engine(space, engine if engine != "auto" else settings.engine),
            cohort_size=cohort_size or settings.cohort_size,
            budget=timeout if timeout is not None else settings.timeout,
        )


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
    # Both stores reachable? Checked (opened once, for the whole sweep) before either
    # is written to.
    store.optuna  # noqa: B018
    store.mlflow  # noqa: B018
    study = open_study(space, store)
    tracker = Tracker(store, space.settings.name)
    tracker.reopen_parent()
    _log_parent_data(space, tracker)
    reap_stale(study, tracker)
    plan = SweepPlan.of(
        space, trials=trials, engine=engine, cohort_size=cohort_size, timeout=timeout
    )
    sweep = _Sweep(
        space, store, study, tracker, plan=plan, view=view or _NoView(), stop=stop, started=started
    )
    return sweep.run()


class _Sweep:
    """One :func:`run_sweep` call once its study is open: the loop that starts trials (or
    population turns) until the plan is met, the time is up or the user stops it."""

    def __init__(
        self,
        space: SearchSpace,
        store: Store,
        study: optuna.Study,
        tracker: Tracker,
        *,
        plan: SweepPlan,
        view: SweepView,
        stop: Callable[[], bool] | None,
        started: float,
    ) -> None:
        self.space, self.store, self.study, self.tracker = space, store, study, tracker
        self.plan, self.view, self.user_stop, self.started = plan, view, stop, started
        self.reports: list[TrialReport] = []
        self.parent_updated = 0.0
        self.models = ModelKeeper(study, space, tracker)

    def run(self) -> SweepSummary:
        """The loop, told to the view; the study's parent run updated and ended after."""
        study, plan = self.study, self.plan
        interrupted = timed_out = False
        done = 0 if plan.trials is not None else min(accounted_trials(study), plan.target)
        self.view.start(study.study_name, plan.target, _best(study), completed=done)
        try:
            with interrupts_remembered():  # a Ctrl-C that a library turns into an error too
                self.loop()
            timed_out = self.out_of_time() and self.remaining() > 0
        except KeyboardInterrupt:
            interrupted = True
        finally:
            self.view.stop()
            update_parent(study, self.tracker, with_table=True)
            self.tracker.end_parent()
        return SweepSummary(
            study.study_name,
            tuple(self.reports),
            interrupted,
            time.perf_counter() - self.started,
            timed_out=timed_out,
        )

    def loop(self) -> None:
        while not self.stop_now():
            if (left := self.remaining()) <= 0:
                # Topped up, but trials may still run in other workers: if one of them
                # dies, its retry is queued and must run before the study is done.
                if self.plan.trials is not None or not wait_for_running(
                    self.study, self.tracker, self.stop_now
                ):
                    break
                left = 1
            reap_stale(self.study, self.tracker)
            warm_up()
            # topping up: count and ask atomically, or N workers overshoot the target
            ask = None if self.plan.trials is not None else self.claim
            if self.plan.engine == "population":
                self.population(left=left, ask=ask)
            else:
                trial = ask() if ask is not None else None
                if ask is not None and trial is None:
                    continue  # another worker took the last slot
                self.record(
                    run_trial(self.study, self.space, self.tracker, trial=trial, models=self.models)
                )

    def out_of_time(self) -> bool:
        budget = self.plan.budget
        return budget is not None and time.perf_counter() - self.started >= budget

    def stop_now(self) -> bool:
        return self.out_of_time() or bool(self.user_stop and self.user_stop())

    def remaining(self) -> int:
        if self.plan.trials is not None:
            return self.plan.trials - len(self.reports)
        return self.plan.target - accounted_trials(self.study)

    def record(self, report: TrialReport) -> None:
        self.reports.append(report)
        self.view.trial_done(report, _best(self.study))
        # The parent's summary costs several MLflow writes: at most every few seconds
        # (populations end many trials per epoch); the final one is in ``run``.
        if time.perf_counter() - self.parent_updated >= PARENT_UPDATE_SECONDS:
            update_parent(self.study, self.tracker)
            self.parent_updated = time.perf_counter()

    def claim(self) -> optuna.Trial | None:
        claimed = claim_trials(self.study, self.store, self.space, self.plan.target, 1)
        return claimed[0] if claimed else None

    def population(self, *, left: int, ask: Callable[[], optuna.Trial | None] | None) -> None:
        """The population engine's turn of the loop: up to the cohort size (default: the
        machine's limit) trials live in slots, asked one at a time as slots free (through
        ``ask`` when given: the atomic top-up), until ``left`` more trials have been asked
        and :meth:`remaining` wants no more."""
        from sweeps.runner.cohort import first_wave, live_trials
        from sweeps.runner.population import run_population

        topping_up = self.plan.trials is None

        def wanted(asked: int, live: int) -> int:
            # --trials N counts reported trials; the top-up counts running ones already
            more = self.remaining() - (0 if topping_up else live)
            return max(more, left - asked)

        size = self.plan.cohort_size or live_trials(self.space, self.plan.target)
        k = min(size, max(left, self.remaining()))
        study, space, tracker = self.study, self.space, self.tracker
        stop, record = self.stop_now, self.record
        first = min(k, first_wave(space, study)) if self.plan.cohort_size is None else 0
        run_population(
            study,
            space,
            tracker,
            None,
            k,
            wanted=wanted,
            stop=stop,
            on_report=record,
            ask=ask,
            first_wave=first,
            models=self.models,
        )


def _best(study: optuna.Study) -> tuple[int, float] | None:
    best = best_trial(study)
    value = primary_value(best) if best else None
    return (best.number, value) if best and value is not None else None


def _log_parent_data(space: SearchSpace, tracker: Tracker) -> None:
    """The study's data on its parent run, when the space fixes it (a swept dataset is on
    each trial's run): scaled as its trials see it, unless the scaling is swept."""
    from trainer.config import TrainConfig
    from trainer.inputs import dataset_for, raw_dataset

    if "dataset" in space.distributions:
        return
    config = TrainConfig.from_dict(space.params_for({}))  # defaults and the fixed values
    data = raw_dataset(config) if "scale" in space.distributions else dataset_for(config)
    tracker.log_datasets(tracker.parent_run_id, data, config.validation_split)
