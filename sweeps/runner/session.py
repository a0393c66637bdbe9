"""The trial session: ask Optuna, train, report epochs, tell Optuna, log to MLflow.

:class:`TrialSession` is the whole life of one trial and is shared by every engine:
it guarantees that each trial has exactly one MLflow child run, that a divergence ends
as PRUNED with its reason (a NaN never reaches the sampler), and that FAIL is kept for
genuine errors, with the message.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from sweeps.files import csv_text, dump_yaml
from sweeps.procs import interrupt_requested
from sweeps.runner.diagnosis import (
    data_artifacts,
    diagnosis_artifacts,
    diagnosis_attrs,
    diagnosis_tags,
)
from sweeps.runner.liveness import STALE_REASON
from sweeps.runner.objectives import metric_value, objective_values, objective_values_so_far
from sweeps.runner.rungs import RungMember, Rungs, RungStop, judge_rungs
from sweeps.space import SearchSpace
from sweeps.store import (
    Tracker,
    frozen_trial,
    report_values,
    schema,
    set_many_user_attrs,
    set_user_attrs,
)
from trainer.config import ConfigError, TrainConfig
from trainer.data import Dataset
from trainer.inputs import dataset_for
from trainer.outcome import DEAD_THRESHOLD, SATURATED_THRESHOLD
from trainer.results import EpochRecord, TrainResult


@dataclass(frozen=True)
class TrialReport:
    """What the live view prints about a finished trial."""

    number: int
    state: str
    outcome: str
    value: float | None
    reason: str
    params: dict[str, Any] = field(default_factory=dict)


def unhealthy_signal(record: EpochRecord, warmup_epochs: int) -> str:
    """Why a trial should stop on its cheap per-epoch signals (``study.prune_on_signals``):
    most ReLU units dead or most sigmoid/tanh units saturated after the warm-up epochs."""
    if record.epoch <= warmup_epochs:
        return ""
    dead, saturated = record.dead_fraction, record.saturated_fraction
    if dead is not None and dead > DEAD_THRESHOLD:
        return f"{dead:.0%} of ReLU units dead > {DEAD_THRESHOLD:.0%}"
    if saturated is not None and saturated > SATURATED_THRESHOLD:
        return f"{saturated:.0%} of units saturated > {SATURATED_THRESHOLD:.0%}"
    return ""


class TrialSession:
    """One asked trial: its config, its MLflow run, and how it ends."""

    def __init__(
        self,
        study: optuna.Study,
        space: SearchSpace,
        tracker: Tracker,
        trial: optuna.Trial,
        *,
        engine: str = "single",
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        defer_run: bool = False,
    ) -> None:
        """``params`` replaces what the space makes of the sampled values (the doctor's
        probes are given whole configs); ``tags`` go on the MLflow run. ``defer_run``
        creates the run on the tracker's background thread (:attr:`run_id` waits for it,
        :meth:`run_error` says whether it failed), so training can start meanwhile."""
        self.study, self.space, self.tracker, self.trial = study, space, tracker, trial
        self.pruner = space.settings.pruner_for(engine)
        """The pruner judging this trial (``auto`` resolved for its engine)."""
        self.params = dict(params) if params is not None else space.suggest(trial)
        tags = {schema.TAG_ENGINE: engine, **(tags or {})}
        # A retried trial (dead worker) arrives with the original's user attributes.
        retry_of = optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(
            frozen_trial(tracker.store.optuna, study, trial.number)
        )
        if retry_of is not None:
            tags[schema.TAG_RETRY_OF_TRIAL] = str(retry_of)
            tags[schema.TAG_RETRY_OF] = str(trial.user_attrs.get(schema.ATTR_RUN_ID, ""))
        self._run: Future[str] | None = None
        self._run_id: str | None = None
        if defer_run:
            self._run = tracker.start_trial_soon(trial.number, self.params, tags=tags)
            set_user_attrs(trial, {schema.ATTR_PARAMS: self.params})
        else:
            self._run_id = tracker.start_trial(trial.number, self.params, tags=tags)
            set_user_attrs(
                trial, {schema.ATTR_RUN_ID: self._run_id, schema.ATTR_PARAMS: self.params}
            )
        self.history: list[dict[str, Any]] = []
        self._records: list[EpochRecord] = []
        self._config: TrainConfig | None = None
        self._rung_stop: RungStop | None = None  # stopped at a rung (``pruner: asha``)
        self._finished = False
        self._extra_tags: dict[str, str] = {}  # diagnosis tags/artifacts, set by finish()
        self._signal = ""  # why the cheap per-epoch signals stopped the trial, if they did
        self._artifacts: dict[str, str] = {}
        self._deferred: Callable[[], None] | None = None  # finish(wait=False): the tell

    def tell_deferred(self) -> None:
        """Tell the trial that :meth:`finish` ended with ``wait=False`` (once)."""
        tell, self._deferred = self._deferred, None
        if tell is not None:
            tell()

    @property
    def finished(self) -> bool:
        """Whether the trial has ended (told, or its tell deferred, or given up)."""
        return self._finished

    @property
    def run_id(self) -> str:
        """The trial's MLflow run (a deferred one is waited for, and recorded on the trial
        once known; its creation's error is raised)."""
        if self._run_id is None:
            TrialSession.record_run_ids([self])
        assert self._run_id is not None
        return self._run_id

    @staticmethod
    def record_run_ids(sessions: Sequence[TrialSession]) -> None:
        """Wait for the deferred runs of ``sessions`` not yet recorded and record their
        ids on their trials (``mlflow_run_id``), in one write; a run's creation error is
        raised."""
        fresh = [(s, s._run) for s in sessions if s._run_id is None and s._run is not None]
        ids = [s.tracker.await_run(run).result() for s, run in fresh]
        set_many_user_attrs(
            [(s.trial, {schema.ATTR_RUN_ID: i}) for (s, _), i in zip(fresh, ids, strict=True)]
        )
        for (session, _), run_id in zip(fresh, ids, strict=True):
            session._run_id = run_id

    @staticmethod
    def judge_rungs(epochs: Sequence[tuple[TrialSession, EpochRecord]]) -> None:
        """``pruner: asha``: the sessions at a rung, judged together once all have reported
        (several objectives: their values at the rung written first, in one write)."""
        at_rung = [(s, m) for s, r in epochs if (m := s.rung_member(r)) is not None]
        if not at_rung:
            return
        first = at_rung[0][0]
        settings, rungs = first.space.settings, first.rungs
        assert rungs is not None
        if settings.multi:
            set_many_user_attrs(
                [
                    (s.trial, {schema.rung_attr(m.epoch): list(m.values)})
                    for s, m in at_rung
                    if m.values is not None
                ]
            )
        stops = judge_rungs(
            first.study,
            rungs,
            [m for _, m in at_rung],
            objectives=settings.objectives,
            directions=settings.objective_directions,
        )
        for session, member in at_rung:
            session._rung_stop = stops.get(member.number)

    def run_error(self) -> BaseException | None:
        """Why the trial's MLflow run could not be created, once that is known (waits for
        a deferred one); ``None`` when it was."""
        return None if self._run is None else self.tracker.await_run(self._run).exception()

    def _data(self) -> Dataset | None:
        """The trial's data (cached), ``None`` when its config or data is what failed."""
        try:
            return dataset_for(self.config())
        except Exception:
            return None

    def config(self) -> TrainConfig:
        if self._config is None:
            self._config = TrainConfig.from_dict(self.params)
        return self._config

    @property
    def rungs(self) -> Rungs | None:
        """The rungs judging this trial (``pruner: asha``), else ``None``."""
        if self.pruner != "asha":
            return None
        settings = self.space.settings
        return Rungs(settings.min_epochs, settings.reduction_factor)

    def rung_member(self, record: EpochRecord) -> RungMember | None:
        """This trial at the end of ``record``'s epoch, when that epoch is one of its
        rungs (after :meth:`log_epoch`)."""
        rungs, config = self.rungs, self.config()
        if rungs is None or rungs.rung_at(record.epoch, config.epochs) is None:
            return None
        values = objective_values_so_far(self.space.settings, config, self._records)
        return RungMember(self.trial.number, record.epoch, config.epochs, values)

    def on_epoch(self, record: EpochRecord) -> bool:
        """Log the epoch, report the metric to the pruner; ``True`` = prune now."""
        self.report_epoch(record)
        return self.should_stop(record)

    def report_epoch(self, record: EpochRecord) -> None:
        """Log the epoch and report its metric to Optuna."""
        report_epochs([(self, record)])

    def log_epoch(self, record: EpochRecord) -> float | None:
        """Log the epoch; the value to report to Optuna for it (``None``: nothing to
        report). :func:`report_epochs` reports several sessions' values at once."""
        metrics = record.metrics()
        self.history.append({"epoch": record.epoch, **metrics})
        self._records.append(record)
        self.tracker.log_epoch(self.run_id, record.epoch, metrics)
        settings = self.space.settings
        value = metric_value(settings.metric, record)
        return None if settings.multi else value

    def should_stop(self, record: EpochRecord) -> bool:
        """After :meth:`report_epoch`: ``True`` = stop the trial now (pruned).

        ``asha`` judges the rungs (:func:`report_epochs` did, for every trial reporting
        with this one), for one objective or several; the other pruners are Optuna's,
        which support no multi-objective study: there only the cheap signals stop a trial
        early, and divergence, which the trainer stops itself."""
        settings = self.space.settings
        if not settings.multi and metric_value(settings.metric, record) is None:
            return False  # nothing was reported to judge this epoch by
        if settings.prune_on_signals:
            self._signal = unhealthy_signal(record, settings.pruner_warmup_epochs)
            if self._signal:
                return True
        if self.pruner == "asha":
            return self._rung_stop is not None and self._rung_stop.epoch == record.epoch
        return not settings.multi and bool(self.trial.should_prune())

    def finish(self, result: TrainResult, *, wait: bool = True) -> TrialReport:
        """Tell Optuna how a training run ended and close the MLflow run to match.

        ``wait=False`` (see :func:`end_runs`) queues the run's last writes and
        leaves the telling to :meth:`tell_deferred`, after the caller's flush."""
        verdict = self.verdict(result)
        set_user_attrs(self.trial, verdict.attrs)
        return self.conclude(verdict, wait=wait)

    def verdict(self, result: TrainResult) -> Verdict:
        """How the run ended, for Optuna and MLflow (nothing written yet): :meth:`finish`
        is :meth:`conclude` once the verdict's attributes are set on the trial."""
        label, reason = result.outcome.label, result.outcome.reason
        settings = self.space.settings
        values = objective_values(settings, result)
        value = values[0]
        missing = [n for n, v in zip(settings.objectives, values, strict=True) if v is None]
        rung: RungStop | None = None
        if label == "diverged":
            state = TrialState.PRUNED
        elif result.stopped_early:
            state = TrialState.PRUNED
            if label == "ok":
                label = "pruned"
            by = f"on signal ({self._signal})" if self._signal else f"by {self.pruner} pruner"
            why = f"pruned {by} after epoch {result.epochs_run} ({settings.metric}={_fmt(value)})"
            rung = None if self._signal else self._rung_stop
            if rung is not None:
                why = f"stopped at {rung.reason}"
            reason = why + ("" if label == "pruned" else f"; {reason}")
        elif missing:
            state, label = TrialState.FAIL, "failed"
            reason = f"metric {missing[0]} is not finite at the last epoch"
        else:
            state = TrialState.COMPLETE
        extra = {
            schema.ATTR_OUTCOME: label,
            schema.ATTR_REASON: reason,
            schema.ATTR_TEST_ACCURACY: result.test_accuracy,
            schema.ATTR_CHANCE_ACCURACY: result.chance_accuracy,
            schema.ATTR_EPOCHS_RUN: result.epochs_run,
            schema.ATTR_WALL_TIME: round(result.wall_time, 3),
        }
        if value is not None:
            extra[schema.ATTR_FINAL_VALUE] = value
        if settings.multi:
            extra[schema.ATTR_OBJECTIVES] = dict(zip(settings.objectives, values, strict=True))
        tags = diagnosis_tags(result)
        if rung is not None:  # set only where the trial was stopped early: PRUNED
            extra[schema.ATTR_STOPPED_AT_RUNG] = rung.rung
            tags[schema.TAG_RUNG] = str(rung.rung)
        summary = {"test_accuracy": result.test_accuracy, "wall_time": result.wall_time}
        if math.isfinite(result.test_loss):
            summary["test_loss"] = result.test_loss
        return Verdict(
            state=state,
            label=label,
            reason=reason,
            told=[float(v) for v in values if v is not None] if settings.multi else value,
            attrs={**extra, **_evidence(result), **diagnosis_attrs(result)},
            summary=summary,
            tags=tags,
            artifacts=diagnosis_artifacts(result),
        )

    def conclude(self, verdict: Verdict, *, wait: bool = True) -> TrialReport:
        """The run's end and the tell of a :meth:`verdict` whose attributes are set."""
        self._extra_tags.update(verdict.tags)
        self._artifacts.update(verdict.artifacts)
        v = verdict
        return self._end(v.state, v.label, v.reason, v.told, v.summary, wait=wait)

    def fail(self, exc: BaseException) -> TrialReport:
        """A genuine error: FAIL with the message kept on the trial and the run. An error
        that a library made of a Ctrl-C (:func:`~sweeps.procs.interrupt_requested`) ends
        the trial as interrupted instead, and raises ``KeyboardInterrupt``."""
        if interrupt_requested():
            self.interrupt()
            raise KeyboardInterrupt from exc
        message = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
        set_user_attrs(
            self.trial, {schema.ATTR_OUTCOME: "failed", schema.ATTR_REASON: message[:2000]}
        )
        if self.run_error() is None:
            self.tracker.log_text(self.run_id, traceback.format_exc(), schema.ARTIFACT_ERROR)
        return self._end(TrialState.FAIL, "failed", message, None, {})

    def interrupt(self) -> None:
        """Ctrl-C: end the trial as FAIL and its run as KILLED, leaving the study resumable."""
        set_user_attrs(
            self.trial,
            {schema.ATTR_OUTCOME: "interrupted", schema.ATTR_REASON: "interrupted by the user"},
        )
        self._end(
            TrialState.FAIL, "interrupted", "interrupted by the user", None, {}, status="KILLED"
        )

    def taken_over(self) -> TrialReport:
        """Another worker failed this trial as stale (our heartbeat came too late) and
        queued its retry: give the trial up, and keep its run KILLED, as that worker left
        it."""
        self._finished = True
        reason = "failed as stale by another worker (late heartbeat); its retry stands for it"
        self.tracker.kill_run(self.run_id, f"{STALE_REASON}; {reason}")
        return TrialReport(self.trial.number, "FAIL", "stale", None, reason, self.params)

    def _end(
        self,
        state: TrialState,
        label: str,
        reason: str,
        value: float | list[float] | None,
        metrics: dict[str, float],
        status: str | None = None,
        wait: bool = True,
    ) -> TrialReport:
        """``value``: the objective, or the list of objectives of a multi-objective study.

        The run's metrics, tags and end are written before the trial is told (a worker
        killed in between leaves a RUNNING trial, which is retried, never a finished
        trial with an unfinished run); its artifacts (copies of its params and epochs)
        are queued after the tell, for the writer to do while training goes on. Without
        ``wait`` the trial is told by :meth:`tell_deferred` (or now, on error)."""
        if self._finished:
            raise RuntimeError(f"trial {self.trial.number} already finished")
        self._finished = True
        has_run = self.run_error() is None  # else there is no run to end (see :meth:`fail`)
        artifacts = {schema.ARTIFACT_PARAMS: dump_yaml(self.params), **self._artifacts}
        if self.history:
            artifacts[schema.ARTIFACT_HISTORY] = csv_text(self.history)
        data = self._data()
        if data is not None:
            artifacts.update(data_artifacts(data))

        def tell() -> None:
            try:
                if state == TrialState.COMPLETE:
                    self.study.tell(self.trial, value)
                else:
                    self.study.tell(self.trial, state=state)
            finally:
                if has_run:
                    self.tracker.log_texts(self.run_id, artifacts)
                    if data is not None:  # the splits it trained, validated and tested on
                        split = self.config().validation_split
                        self.tracker.log_datasets(self.run_id, data, split)

        try:
            if has_run:
                self.tracker.finish_trial(
                    self.run_id,
                    state=state.name,
                    outcome=label,
                    reason=reason,
                    metrics=metrics,
                    extra_tags=self._extra_tags,
                    status=status,
                    wait=False,
                )
        except BaseException:
            tell()
            raise
        if wait:
            if has_run:
                self.tracker.flush(runs=[self.run_id])
            tell()
            if has_run:  # and its artifacts: a caller that waits may read them next
                self.tracker.flush(runs=[self.run_id])
        else:
            self._deferred = tell
        first = value[0] if isinstance(value, list) else value
        return TrialReport(self.trial.number, state.name, label, first, reason, self.params)


def report_epochs(epochs: Sequence[tuple[TrialSession, EpochRecord]]) -> None:
    """:meth:`TrialSession.report_epoch` of each ``(session, record)``, the sessions of
    one study: every value reaches Optuna in one journal write (and the run ids recorded
    at a first report, in one more)."""
    TrialSession.record_run_ids([session for session, _ in epochs])
    reports = []
    for session, record in epochs:
        value = session.log_epoch(record)
        if value is not None:
            reports.append((session.trial, value, record.epoch))
    report_values(reports)
    TrialSession.judge_rungs(epochs)


def end_runs(ended: Sequence[tuple[TrialSession, TrainResult]]) -> list[TrialReport]:
    """Finish trials that ended together (a population's epoch boundary), first half:
    their Optuna attributes set in one write, each run's last writes queued
    (:meth:`TrialSession.finish` with ``wait=False``);
    :func:`tell_ended` tells the trials once they are written, and until then training
    may go on while the writer works. On an error the trials ended so far are told."""
    reports: list[TrialReport] = []
    verdicts = [session.verdict(result) for session, result in ended]
    set_many_user_attrs([(s.trial, v.attrs) for (s, _), v in zip(ended, verdicts, strict=True)])
    try:
        for (session, _), verdict in zip(ended, verdicts, strict=True):
            reports.append(session.conclude(verdict, wait=False))
    except BaseException:
        if reports:  # the one that raised told its trial itself
            tell_ended(ended[0][0].tracker, [s for s, _ in ended[: len(reports)]])
        raise
    return reports


def tell_ended(tracker: Tracker, sessions: Sequence[TrialSession]) -> None:
    """Second half: one wait for the writer (for these runs' writes alone, which it does
    first), and only then each trial told, so a run still ends before its trial."""
    if not sessions:
        return
    try:
        tracker.flush(runs=[s.run_id for s in sessions if s.run_error() is None])
    finally:
        for session in sessions:
            session.tell_deferred()


def _evidence(result: TrainResult) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if result.divergence is not None:
        out[schema.ATTR_DIVERGED_EPOCH] = result.divergence.epoch
        out[schema.ATTR_DIVERGED_BATCH] = result.divergence.batch
    return out


@dataclass(frozen=True)
class Verdict:
    """How a trial ended (:meth:`TrialSession.verdict`): its state and label, what
    Optuna is told and keeps, what its MLflow run gets."""

    state: TrialState
    label: str
    reason: str
    told: float | list[float] | None
    attrs: dict[str, Any]
    summary: dict[str, float]
    tags: dict[str, str]
    artifacts: dict[str, str]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
