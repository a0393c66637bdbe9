"""The population engine for sweeps: a cohort of trials trained as one vectorised model.

:func:`run_cohort` asks Optuna for several trials at once, gives each its own
:class:`~sweeps.run.session.TrialSession` (so each still has its own MLflow child run, its
own pruning and its own ending), groups them by :func:`trainer.population.cohort_key`
(trials that differ in batch size, architecture, ... form separate sub-cohorts) and
trains each group with :func:`trainer.population.train_population`.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from sweeps.run.liveness import trial_heartbeat
from sweeps.run.session import TrialReport, TrialSession
from sweeps.space import SearchSpace
from sweeps.store import Tracker
from sweeps.store.schema import ATTR_OUTCOME, ATTR_REASON
from trainer.config import COHORT_FIELDS, DEFAULTS, TrainConfig

__all__ = [
    "COHORT_FIELDS",
    "MAX_COHORT",
    "MAX_SUBCOHORTS",
    "can_use_population",
    "default_cohort_size",
    "run_cohort",
]

MAX_COHORT = 64
"""Largest automatic cohort: beyond it, per-step arithmetic dominates and gains flatten."""

MAX_SUBCOHORTS = 4
"""A space whose swept cohort fields can take more value combinations than this splits a
cohort into sub-cohorts too small to be worth it: :func:`can_use_population` says no."""

# Population size beyond which the members' parameters make each step compute-bound
# (measured on CPU: 784-30-10 MLPs keep gaining up to K=64, i.e. ~1.5M parameters).
_COMPUTE_PARAMS = 4_000_000
_BYTES_PER_PARAM = 4 * 9  # weights, snapshot, gradient, 2 optimizer slots, temporaries
_FIXED_BYTES = 256 * 2**20  # evaluation chunks, data, graph
_DEFAULT_BUDGET = 2 * 2**30
_KNOWN_SIZES = {"mnist-mini": (10_000, 784, 10), "mnist": (60_000, 784, 10)}


def subcohort_count(space: SearchSpace) -> float:
    """How many distinct cohort keys the swept parameters can produce (``inf`` for a
    continuous one)."""
    count = 1.0
    for name in COHORT_FIELDS:
        dist = space.distributions.get(name)
        if dist is not None:
            count *= _distinct_values(dist)
    if space.layers is not None:  # a depth x width space sweeps hidden_layers
        count *= space.layers.architecture_count()
    return count


def can_use_population(space: SearchSpace) -> bool:
    """Whether the population engine suits ``space``.

    Yes when every swept parameter is one members may differ in (learning rate,
    initialisation, activations, loss, optimizer, momentum), or when the swept cohort
    fields (batch size, architecture, epochs, seed, data, validation split) can only
    take a few combinations (at most :data:`MAX_SUBCOHORTS`), so sub-cohorts stay large.
    """
    return subcohort_count(space) <= MAX_SUBCOHORTS


def default_cohort_size(
    config_like: SearchSpace | TrainConfig | Mapping[str, Any],
    available_memory_bytes: int | None = None,
) -> int:
    """Automatic cohort size in ``[1, MAX_COHORT]``, from parameter count and data size.

    The cohort grows until either the members' parameters make a step compute-bound
    (K x parameters ~ 4M) or their memory (weights, snapshot, gradients, optimizer slots
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


def run_cohort(
    study: optuna.Study,
    space: SearchSpace,
    tracker: Tracker,
    dataset: Any,
    size: int,
    asked: list[optuna.Trial] | None = None,
) -> list[TrialReport]:
    """Ask ``size`` trials (or take ``asked``), train them as populations, record how
    each one ended.

    Every trial gets its own session (MLflow child run, pruner reports); trials that
    share a cohort key train together. An error in one sub-cohort fails its trials only;
    Ctrl-C ends every unfinished trial as interrupted and is re-raised.
    """
    from trainer.population import cohort_key, train_population

    trials = asked or [
        study.ask(fixed_distributions=space.distributions) for _ in range(max(1, size))
    ]
    reports: list[TrialReport] = []
    sessions: list[TrialSession] = []
    told: set[int] = set()  # trials ended without a session
    with trial_heartbeat(tracker.store.optuna, study, *trials):
        try:
            groups: dict[Any, list[tuple[TrialSession, TrainConfig]]] = {}
            for trial in trials:
                try:
                    session = TrialSession(study, space, tracker, trial, engine="population")
                except Exception as exc:  # e.g. the tracking store refused the run
                    reports.append(_fail_unstarted(study, space, trial, exc))
                    told.add(trial.number)
                    continue
                sessions.append(session)
                try:
                    config = session.config()
                except Exception as exc:
                    reports.append(session.fail(exc))
                    continue
                groups.setdefault(cohort_key(config), []).append((session, config))

            for members in groups.values():
                group = [s for s, _ in members]

                def on_epoch_end(k: int, record: Any, group: list[TrialSession] = group) -> bool:
                    return group[k].on_epoch(record)

                try:
                    results = train_population(
                        [c for _, c in members], dataset=dataset, on_epoch_end=on_epoch_end
                    )
                except Exception as exc:
                    for session in group:
                        if not session.finished:
                            reports.append(session.fail(exc))
                    continue
                reports.extend(
                    s.finish(r) for s, r in zip(group, results, strict=True) if not s.finished
                )
        except KeyboardInterrupt:
            for session in sessions:
                if not session.finished:
                    session.interrupt()
            told.update(s.trial.number for s in sessions)
            for trial in trials:
                if trial.number not in told:
                    study.tell(trial, state=TrialState.FAIL)
            raise
    return sorted(reports, key=lambda r: r.number)


def _fail_unstarted(
    study: optuna.Study, space: SearchSpace, trial: optuna.Trial, exc: BaseException
) -> TrialReport:
    """A trial whose session could not even start: FAIL it with the message."""
    message = f"{type(exc).__name__}: {exc}"
    trial.set_user_attr(ATTR_OUTCOME, "failed")
    trial.set_user_attr(ATTR_REASON, message[:2000])
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
