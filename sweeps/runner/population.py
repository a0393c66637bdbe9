"""The population engine for sweeps: a continuous scheduler over slots.

:func:`run_population` keeps up to K trials live. Each asked trial gets its own
:class:`~sweeps.runner.session.TrialSession` (its own MLflow child run, pruning and ending)
and a slot in the :class:`trainer.population.Population` of its shape (architecture,
batch size, data, validation split); one population per shape, their epochs run in
turn (round-robin). Each population is resizable: it grows to hold every trial of its
shape and shrinks as they end, so the K slots go wherever the sampler sends trials and
an ended trial stops costing compute at the next epoch boundary. After every epoch
every live member is reported to its session, and only then does the pruner judge each
(with ``pruner_peers: running`` it compares with the others: sweeps.store._pruners).
Members that ended have their MLflow runs' ends queued at once; the writer writes them
while the other shapes train their epoch, and at the end of the round (one epoch of
every shape) they are told to Optuna together, after one wait for whatever of their
writes is left, their artifacts queued after. Only then are new trials asked and put
into the freed slots: the sampler sees every finished trial before the next ask.

How many trials to keep live, and whether a space suits the engine at all, is
:mod:`sweeps.runner.cohort`'s.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from sweeps.procs import interrupt_requested
from sweeps.runner.liveness import trial_heartbeat
from sweeps.runner.models import ModelKeeper
from sweeps.runner.session import TrialReport, TrialSession, end_runs, report_epochs, tell_ended
from sweeps.space import SearchSpace
from sweeps.store import Tracker, set_user_attrs
from sweeps.store.schema import ATTR_OUTCOME, ATTR_REASON
from trainer.config import TrainConfig
from trainer.data import Dataset
from trainer.inputs import dataset_for
from trainer.results import EpochRecord, TrainResult

if TYPE_CHECKING:
    from trainer.population import Population

__all__ = ["PopulationScheduler", "Wanted", "run_population"]


Wanted = Callable[[int, int], int]
"""``(asked so far, live now) -> how many more trials to ask`` (<= 0: none)."""


@dataclass
class _Live:
    """A trial asked and not yet ended: its session and its heartbeat."""

    session: TrialSession
    heartbeat: contextlib.ExitStack
    config: TrainConfig | None = None
    placed: bool = False


def run_population(
    study: optuna.Study,
    space: SearchSpace,
    tracker: Tracker,
    dataset: Dataset | None,
    size: int,
    *,
    wanted: Wanted,
    stop: Callable[[], bool] | None = None,
    on_report: Callable[[TrialReport], None] | None = None,
    ask: Callable[[], optuna.Trial | None] | None = None,
    first_wave: int = 0,
    models: ModelKeeper | None = None,
) -> list[TrialReport]:
    """Train trials in slots, up to ``size`` live at once, until ``wanted`` says no more.

    ``dataset`` overrides the configs' (already loaded data). ``ask`` asks one trial
    (default: ``study.ask``); it may answer ``None`` when the study has no trial left to
    give (the atomic top-up of several workers), and then no more trials are asked in
    this call.

    New trials are asked only at epoch boundaries, after the members that ended have been
    told to Optuna, and while ``stop()`` is false (live trials then run to their end).
    ``on_report`` gets each trial's report as it ends. An error in a population fails
    its live trials only; Ctrl-C ends every live trial as interrupted and is re-raised.
    ``first_wave``: see :attr:`PopulationScheduler.first_wave`. ``models`` saves the
    networks of the trials that end as the study's best.
    """
    return PopulationScheduler(
        study, space, tracker, dataset, size, wanted, stop, on_report, ask, first_wave, models
    ).run()


@dataclass
class PopulationScheduler:
    """One :func:`run_population` call: its arguments (as documented there), then the
    live trials, their populations (one per shape) and the reports of the trials that
    ended, in the order they ended."""

    study: optuna.Study
    space: SearchSpace
    tracker: Tracker
    dataset: Dataset | None
    size: int
    wanted: Wanted
    stop: Callable[[], bool] | None = None
    on_report: Callable[[TrialReport], None] | None = None
    ask: Callable[[], optuna.Trial | None] | None = None
    pops: dict[Any, Population] = field(default_factory=dict, init=False)  # by shape key
    live: dict[int, _Live] = field(default_factory=dict, init=False)  # by trial number
    reports: list[TrialReport] = field(default_factory=list, init=False)
    asked: int = field(default=0, init=False)
    first_wave: int = 0
    """Ask this many trials first and ask no more until one of them completes (or none
    is left): a small wave trains its survivors to the end fast, so the sampler, and the
    user, get a complete trial before the slots fill (0: no first wave)."""
    models: ModelKeeper | None = None
    completed: int = field(default=0, init=False)  # trials that ended COMPLETE
    exhausted: bool = field(default=False, init=False)  # ``ask`` had no trial left
    runless: dict[int, BaseException] = field(default_factory=dict, init=False)  # no run

    def __post_init__(self) -> None:
        self.size = max(1, self.size)

    def run(self) -> list[TrialReport]:
        """Rounds (an epoch of every shape) until no trial is live or wanted."""
        try:
            while True:
                with self.tracker.hold_writes():  # the interpreter to the sampler
                    self.fill()
                    self.place()
                busy = [(key, pop) for key, pop in self.pops.items() if pop.live]
                if not busy:  # every trial asked is placed: nothing live means nothing left
                    break
                self.round(busy)
        except KeyboardInterrupt:
            self.interrupt()
            raise
        self.tracker.flush()  # the artifacts of the trials told last, written before we return
        return self.reports

    # ----------------------------------------------------------------------- asking

    def fill(self) -> None:
        """Ask trials while slots are free, trials are wanted and the study gives them."""
        while (
            len(self.live) < self.room()
            and not self.exhausted
            and not (self.stop and self.stop())
            and self.wanted(self.asked, len(self.live)) > 0
        ):
            self.ask_one()

    def room(self) -> int:
        """How many trials may be live now: ``size``, except during the first wave (see
        :attr:`first_wave`), which is asked once and not refilled."""
        if self.first_wave and not self.completed and (self.live or not self.asked):
            return min(self.size, self.first_wave - self.asked + len(self.live))
        return self.size

    def ask_one(self) -> None:
        """Ask one trial and start its session (its run is created while it trains its
        first epoch); a trial that cannot start is failed and reported at once."""
        if self.ask is not None:
            trial = self.ask()
        else:
            trial = self.study.ask(fixed_distributions=self.space.distributions)
        if trial is None:
            self.exhausted = True
            return
        self.asked += 1
        beat = contextlib.ExitStack()
        beat.enter_context(trial_heartbeat(self.tracker.store.optuna, self.study, trial))
        try:
            session = TrialSession(
                self.study, self.space, self.tracker, trial, engine="population", defer_run=True
            )
        except Exception as exc:  # e.g. a parameter the space cannot make
            beat.close()
            if interrupt_requested():  # a Ctrl-C a library turned into exc
                raise KeyboardInterrupt from exc
            self.deliver(_fail_unstarted(self.study, self.space, trial, exc))
            return
        entry = _Live(session, beat)
        self.live[trial.number] = entry
        try:
            entry.config = session.config()
        except Exception as exc:
            self.report(entry, session.fail(exc))

    # ---------------------------------------------------------------------- placing

    def place(self) -> None:
        """Put every trial waiting into its shape's population (grown to hold it)."""
        from trainer.shape import shape_key

        waiting: dict[Any, list[tuple[_Live, TrainConfig]]] = {}
        for entry in self.live.values():
            if not entry.placed and entry.config is not None:
                waiting.setdefault(shape_key(entry.config), []).append((entry, entry.config))
        for key, entries in waiting.items():
            pop = self.pops.get(key)
            if pop is None:
                pop = self.new_population(key, entries)
                if pop is None:  # it could not be made: its trials failed
                    continue
            for entry, config in entries:
                pop.add(config, key=entry.session.trial.number)
                entry.placed = True

    def new_population(
        self, key: Any, entries: list[tuple[_Live, TrainConfig]]
    ) -> Population | None:
        """A resizable population for the shape ``key``, sized for ``entries``; ``None``
        when it cannot be made (its trials are failed)."""
        from trainer.population import Population

        config = entries[0][1]
        data = self.dataset if self.dataset is not None else dataset_for(config)
        try:
            pop = Population(config, len(entries), dataset=data, resizable=True)
        except Exception as exc:  # e.g. a batch larger than the training set
            for entry, _ in entries:
                self.report(entry, entry.session.fail(exc))
            return None
        self.pops[key] = pop
        return pop

    # ---------------------------------------------------------------------- training

    def round(self, busy: list[tuple[Any, Population]]) -> None:
        """One epoch of each of ``busy`` in turn. Trials that end are told at the end of
        the round (the writer writes their runs' ends while the next shapes train), and
        no trial is asked before then."""
        ending: list[tuple[int, TrainResult, TrialReport]] = []
        try:
            for key, pop in busy:
                ending.extend(self.epoch(key, pop))
        finally:  # Ctrl-C included: the runs ended so far are written and told
            with self.tracker.hold_writes():
                tell_ended(self.tracker, [self.live[n].session for n, _, _ in ending])
        if self.models is not None:
            self.models.consider([(self.live[n].session, r, rep) for n, r, rep in ending])
        for number, _, rep in ending:
            self.report(self.live[number], rep)

    def epoch(self, key: Any, pop: Population) -> list[tuple[int, TrainResult, TrialReport]]:
        """One epoch of ``pop``: the members that ended, their runs' ends queued (their
        trials are told by :meth:`round`). An error fails the population's live trials."""
        members = pop.keys()
        try:
            ended = pop.run_epoch(self.on_epoch_end, on_records=self.on_records)
        except Exception as exc:
            del self.pops[key]  # its state is unknown now: a fresh one for the next
            for number in members:
                if number in self.live:
                    entry = self.live[number]
                    self.report(entry, entry.session.fail(exc))
            return []
        for number, _ in ended:
            if number in self.runless:
                entry = self.live[number]
                self.report(entry, entry.session.fail(self.runless.pop(number)))
        ended = [(n, r) for n, r in ended if n in self.live]
        done = end_runs([(self.live[n].session, r) for n, r in ended])
        return [(n, r, rep) for (n, r), rep in zip(ended, done, strict=True)]

    def on_records(self, records: list[tuple[Any, EpochRecord]]) -> None:
        """Every member reports before any is judged: a pruner may compare it with the
        members of this very epoch (``pruner_peers: running``)."""
        epochs: list[tuple[TrialSession, EpochRecord]] = []
        for number, record in records:
            session = self.live[number].session
            error = session.run_error()
            if error is None:
                epochs.append((session, record))
            else:  # e.g. the tracking store refused it: the trial fails, here
                self.runless[number] = error
        report_epochs(epochs)

    def on_epoch_end(self, number: Any, record: EpochRecord) -> bool:
        return number in self.runless or self.live[number].session.should_stop(record)

    # ---------------------------------------------------------------------- endings

    def report(self, entry: _Live, rep: TrialReport) -> None:
        """A live trial ended: stop its heartbeat and deliver its report."""
        self.live.pop(entry.session.trial.number, None)
        self.completed += rep.state == "COMPLETE"
        entry.heartbeat.close()
        self.deliver(rep)

    def deliver(self, rep: TrialReport) -> None:
        self.reports.append(rep)
        if self.on_report is not None:
            self.on_report(rep)

    def interrupt(self) -> None:
        """Ctrl-C: every live trial ends as interrupted."""
        for entry in list(self.live.values()):
            if not entry.session.finished:
                entry.session.interrupt()
            entry.heartbeat.close()


def _fail_unstarted(
    study: optuna.Study, space: SearchSpace, trial: optuna.Trial, exc: BaseException
) -> TrialReport:
    """A trial whose session could not even start: FAIL it with the message."""
    message = f"{type(exc).__name__}: {exc}"
    set_user_attrs(trial, {ATTR_OUTCOME: "failed", ATTR_REASON: message[:2000]})
    study.tell(trial, state=TrialState.FAIL)
    return TrialReport(
        trial.number, "FAIL", "failed", None, message, space.params_for(trial.params)
    )
