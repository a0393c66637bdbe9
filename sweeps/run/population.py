"""The population engine for sweeps: a continuous scheduler over slots.

:func:`run_population` keeps up to K trials live. Each asked trial gets its own
:class:`~sweeps.run.session.TrialSession` (its own MLflow child run, pruning and ending)
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
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from sweeps.procs import interrupt_requested
from sweeps.run.liveness import trial_heartbeat
from sweeps.run.session import TrialReport, TrialSession, end_runs, report_epochs, tell_ended
from sweeps.space import SearchSpace
from sweeps.store import Tracker, set_user_attrs
from sweeps.store.schema import ATTR_OUTCOME, ATTR_REASON
from trainer.config import DEFAULTS, SHAPE_FIELDS, TrainConfig

__all__ = [
    "MAX_COHORT",
    "MAX_SUBCOHORTS",
    "SHAPE_FIELDS",
    "can_use_population",
    "default_cohort_size",
    "run_population",
    "subcohort_count",
]

MAX_COHORT = 64
"""Largest automatic cohort: beyond it, per-step arithmetic dominates and gains flatten."""

MAX_SUBCOHORTS = 4
"""A space whose swept shape fields can take more value combinations than this splits the
slots into populations too small to be worth it: :func:`can_use_population` says no."""

# Population size beyond which the members' parameters make each step compute-bound
# (measured on CPU: 784-30-10 MLPs keep gaining up to K=64, i.e. ~1.5M parameters).
_COMPUTE_PARAMS = 4_000_000
# weights, gradient, 2 optimizer slots, temporaries; it also counted a weight snapshot,
# which the engine no longer keeps: left as headroom, so automatic sizes stay as measured
_BYTES_PER_PARAM = 4 * 9
_FIXED_BYTES = 256 * 2**20  # evaluation chunks, data, graph
_DEFAULT_BUDGET = 2 * 2**30
_KNOWN_SIZES = {"mnist-mini": (10_000, 784, 10), "mnist": (60_000, 784, 10)}


def subcohort_count(space: SearchSpace) -> float:
    """How many distinct shapes (:data:`SHAPE_FIELDS`) the swept parameters can produce
    (``inf`` for a continuous one)."""
    count = 1.0
    for name in SHAPE_FIELDS:
        dist = space.distributions.get(name)
        if dist is not None:
            count *= _distinct_values(dist)
    if space.layers is not None:  # a depth x width space sweeps hidden_layers
        count *= space.layers.architecture_count()
    return count


def can_use_population(space: SearchSpace) -> bool:
    """Whether the population engine suits ``space``.

    Yes when every swept parameter is one members may differ in (learning rate,
    initialisation, activations, loss, optimizer, momentum, seed, epochs), or when the
    swept shape fields (batch size, architecture, data, validation split) can only take
    a few combinations (at most :data:`MAX_SUBCOHORTS`), so each shape's population
    stays large.
    """
    return subcohort_count(space) <= MAX_SUBCOHORTS


def default_cohort_size(
    config_like: SearchSpace | TrainConfig | Mapping[str, Any],
    available_memory_bytes: int | None = None,
) -> int:
    """Automatic cohort size in ``[1, MAX_COHORT]``, from parameter count and data size.

    The cohort grows until either the members' parameters make a step compute-bound
    (K x parameters ~ 4M) or their memory (weights, gradients, optimizer slots, headroom
    and the batch activations, ~36 bytes per parameter) would exceed the budget:
    ``available_memory_bytes``, else a quarter of the memory available now (at most
    2 GiB). For a search space the largest swept architecture and batch size count.
    """
    params, activations = _worst_case(config_like)
    if available_memory_bytes is None:
        free = _available_memory()
        budget = min(_DEFAULT_BUDGET, free // 4) if free else _DEFAULT_BUDGET
    else:
        budget = available_memory_bytes
    per_member = params * _BYTES_PER_PARAM + activations * 4 * 4
    by_memory = (budget - _FIXED_BYTES) // max(1, per_member)
    by_compute = _COMPUTE_PARAMS // max(1, params)
    return int(max(1, min(MAX_COHORT, by_memory, by_compute)))


@dataclass
class _Live:
    """A trial asked and not yet ended: its session and its heartbeat."""

    session: TrialSession
    heartbeat: contextlib.ExitStack
    config: TrainConfig | None = None
    placed: bool = False


Wanted = Callable[[int, int], int]
"""``(asked so far, live now) -> how many more trials to ask`` (<= 0: none)."""


def run_population(
    study: optuna.Study,
    space: SearchSpace,
    tracker: Tracker,
    dataset: Any,
    size: int,
    *,
    wanted: Wanted,
    stop: Callable[[], bool] | None = None,
    on_report: Callable[[TrialReport], None] | None = None,
    ask: Callable[[], optuna.Trial | None] | None = None,
) -> list[TrialReport]:
    """Train trials in slots, up to ``size`` live at once, until ``wanted`` says no more.

    ``ask`` asks one trial (default: ``study.ask``); it may answer ``None`` when the study
    has no trial left to give (the atomic top-up of several workers), and then no more
    trials are asked in this call.

    New trials are asked only at epoch boundaries, after the members that ended have been
    told to Optuna, and while ``stop()`` is false (live trials then run to their end).
    ``on_report`` gets each trial's report as it ends. An error in a population fails
    its live trials only; Ctrl-C ends every live trial as interrupted and is re-raised.
    """
    from trainer.data import load_dataset
    from trainer.population import Population, shape_key

    size = max(1, size)
    pops: dict[Any, Population] = {}
    datasets: dict[str, Any] = {}
    live: dict[int, _Live] = {}
    reports: list[TrialReport] = []
    asked = 0
    exhausted = False

    def deliver(rep: TrialReport) -> None:
        reports.append(rep)
        if on_report is not None:
            on_report(rep)

    def report(entry: _Live, rep: TrialReport) -> None:
        live.pop(entry.session.trial.number, None)
        entry.heartbeat.close()
        deliver(rep)

    def ask_one() -> None:
        nonlocal asked, exhausted
        trial = ask() if ask is not None else study.ask(fixed_distributions=space.distributions)
        if trial is None:
            exhausted = True
            return
        asked += 1
        beat = contextlib.ExitStack()
        beat.enter_context(trial_heartbeat(tracker.store.optuna, study, trial))
        try:  # its run is created while it trains its first epoch
            session = TrialSession(
                study, space, tracker, trial, engine="population", defer_run=True
            )
        except Exception as exc:  # e.g. a parameter the space cannot make
            beat.close()
            if interrupt_requested():  # a Ctrl-C a library turned into exc
                raise KeyboardInterrupt from exc
            deliver(_fail_unstarted(study, space, trial, exc))
            return
        entry = _Live(session, beat)
        live[trial.number] = entry
        try:
            entry.config = session.config()
        except Exception as exc:
            report(entry, session.fail(exc))

    def place() -> None:
        """Put every trial waiting into its shape's population (grown to hold it)."""
        waiting: dict[Any, list[_Live]] = {}
        for entry in live.values():
            if not entry.placed and entry.config is not None:
                waiting.setdefault(shape_key(entry.config), []).append(entry)
        for key, entries in waiting.items():
            pop = pops.get(key)
            if pop is None:
                name = entries[0].config.dataset  # type: ignore[union-attr]
                if dataset is None and name not in datasets:
                    datasets[name] = load_dataset(name)
                data = dataset if dataset is not None else datasets[name]
                try:
                    pop = pops[key] = Population(
                        entries[0].config,  # type: ignore[arg-type]
                        len(entries),
                        dataset=data,
                        resizable=True,
                    )
                except Exception as exc:  # e.g. a batch larger than the training set
                    for entry in entries:
                        report(entry, entry.session.fail(exc))
                    continue
            for entry in entries:
                pop.add(entry.config, key=entry.session.trial.number)  # type: ignore[arg-type]
                entry.placed = True

    runless: dict[int, BaseException] = {}  # members whose MLflow run could not be made

    def on_records(records: list[tuple[int, Any]]) -> None:
        # every member reports before any is judged: a pruner may compare it with the
        # members of this very epoch (pruner_peers: running)
        epochs = []
        for number, record in records:
            session = live[number].session
            error = session.run_error()
            if error is None:
                epochs.append((session, record))
            else:  # e.g. the tracking store refused it: the trial fails, here
                runless[number] = error
        report_epochs(epochs)

    def on_epoch_end(number: int, record: Any) -> bool:
        return number in runless or live[number].session.should_stop(record)

    try:
        while True:
            with tracker.hold_writes():  # the interpreter to the sampler, not the writer
                while (
                    len(live) < size
                    and not exhausted
                    and not (stop and stop())
                    and wanted(asked, len(live)) > 0
                ):
                    ask_one()
                place()
            busy = [(key, pop) for key, pop in pops.items() if pop.live]
            if not busy:  # every trial asked is placed: nothing live means nothing left
                break
            # Trials that end are told at the end of the round: the writer writes their
            # runs' ends while the next shapes train, and no trial is asked before then.
            ending: list[tuple[int, TrialReport]] = []
            try:
                for key, pop in busy:  # one epoch of each shape in turn
                    members = [m.key for m in pop.members if m is not None]
                    try:
                        ended = pop.run_epoch(on_epoch_end, on_records=on_records)
                    except Exception as exc:
                        del pops[key]  # its state is unknown now: a fresh one for the next
                        for number in members:
                            if number in live:
                                entry = live[number]
                                report(entry, entry.session.fail(exc))
                        continue
                    for number, _ in ended:
                        if number in runless:
                            entry = live[number]
                            report(entry, entry.session.fail(runless.pop(number)))
                    ended = [(n, r) for n, r in ended if n in live]
                    done = end_runs([(live[n].session, r) for n, r in ended])
                    ending.extend((n, rep) for (n, _), rep in zip(ended, done, strict=True))
            finally:  # Ctrl-C included: the runs ended so far are written and told
                with tracker.hold_writes():
                    tell_ended(tracker, [live[n].session for n, _ in ending])
            for number, rep in ending:
                report(live[number], rep)
    except KeyboardInterrupt:
        for entry in list(live.values()):
            if not entry.session.finished:
                entry.session.interrupt()
            entry.heartbeat.close()
        raise
    tracker.flush()  # the artifacts of the trials told last, written before we return
    return reports


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


# --------------------------------------------------------------------------- sizing


def _distinct_values(dist: BaseDistribution) -> float:
    if isinstance(dist, CategoricalDistribution):
        return float(len(dist.choices))
    if isinstance(dist, IntDistribution):
        return float((dist.high - dist.low) // dist.step + 1)
    if isinstance(dist, FloatDistribution):
        if dist.step is not None:
            return float(math.floor((dist.high - dist.low) / dist.step + 1e-9) + 1)
        return 1.0 if dist.low == dist.high else math.inf
    return math.inf


def _candidates(config_like: SearchSpace | TrainConfig | Mapping[str, Any]) -> list[dict[str, Any]]:
    """Parameter dicts covering the largest architecture / batch size a space can ask for."""
    if isinstance(config_like, TrainConfig):
        return [config_like.to_dict()]
    if not isinstance(config_like, SearchSpace):
        return [{**DEFAULTS, **dict(config_like)}]
    space = config_like
    base = space.params_for({})
    out = [base]
    for name in ("hidden_layers", "batch_size"):
        dist = space.distributions.get(name)
        if isinstance(dist, CategoricalDistribution):
            out.extend(space.params_for({name: c}) for c in dist.choices)
        elif isinstance(dist, IntDistribution):
            out.append(space.params_for({name: dist.high}))
    if space.layers is not None:
        out.append({**base, "hidden_layers": list(space.layers.largest())})
    return out


def _worst_case(config_like: SearchSpace | TrainConfig | Mapping[str, Any]) -> tuple[int, int]:
    """(parameters per member, batch activations per member) at the largest settings."""
    params = activations = 0
    for cand in _candidates(config_like):
        examples, features, classes = _KNOWN_SIZES.get(str(cand.get("dataset")), (60_000, 784, 10))
        hidden = [int(h) for h in cand.get("hidden_layers") or []]
        sizes = [features, *hidden, classes]
        count = sum(a * b + b for a, b in itertools.pairwise(sizes))
        batch = min(int(cand.get("batch_size") or 32), examples)
        params = max(params, count)
        activations = max(activations, batch * sum(sizes))
    return params, activations


def _available_memory() -> int:
    """MemAvailable from /proc/meminfo (bytes), else physical memory, else 0."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0
