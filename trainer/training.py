"""The ways in: train one config, train several together, check one before training.

A whole epoch runs inside one compiled function (:mod:`trainer.epoch`) that watches
every batch: the first non-finite loss or gradient norm ends a run on the very batch
where it happens, and no further epochs are wasted. All three entry points are
:class:`trainer.population.Population` underneath (``train`` is a population of one):
one epoch loop, probe, result builder and set of optimizer formulas for a single run
and for a sweep's populations alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from trainer._tf import tf_keras
from trainer.config import TrainConfig
from trainer.data import Dataset
from trainer.population import Population, PopulationCallback, PopulationPreflight
from trainer.preflight import PreflightWarning, run_checks
from trainer.results import EpochCallback, PreflightCallback, TrainResult
from trainer.shape import shape_key, shape_mismatch

__all__ = ["preflight", "train", "train_population"]


def train(
    config: TrainConfig,
    *,
    dataset: Dataset | None = None,
    on_epoch_end: EpochCallback | None = None,
    keep_model: bool = False,
    on_preflight: PreflightCallback | None = None,
) -> TrainResult:
    """Train ``config`` and label the run (``ok``, ``diverged``, ``stuck``, ...; see
    :mod:`trainer.outcome`).

    ``dataset`` overrides ``config.dataset`` (already loaded data, e.g. shared by many
    trials). ``on_epoch_end`` may return ``True`` to stop after that epoch.
    ``on_preflight`` receives the pre-flight warnings (see :mod:`trainer.preflight`)
    before the first step; they are also on the result (``warnings``).
    """
    _, keras = tf_keras()
    keras.backend.clear_session(free_memory=False)
    pop = Population(config, 1, dataset=dataset, keep_models=keep_model)
    pop.add(config)
    ended: list[tuple[Any, TrainResult]] = []
    while not ended:
        ended = pop.run_epoch(
            None if on_epoch_end is None else lambda _key, record: on_epoch_end(record),
            None if on_preflight is None else lambda _key, warnings: on_preflight(warnings),
        )
    return ended[0][1]


def train_population(
    configs: Sequence[TrainConfig],
    *,
    dataset: Dataset | None = None,
    on_epoch_end: PopulationCallback | None = None,
    on_preflight: PopulationPreflight | None = None,
    keep_models: bool = False,
    jit: bool | None = None,
) -> list[TrainResult]:
    """Train ``configs`` together from the start; one :class:`TrainResult` per config,
    in order. Callbacks get the config's index as the member key; ``jit``: see
    :attr:`Population.jit`.

    Every config must have the same :func:`~trainer.population.shape_key` (else
    ``ValueError``). Each member's history, weights and outcome are those of
    ``train(config)`` alone, up to rounding (see :class:`Population`). The population
    is resizable: members that end early (stopped, diverged, fewer epochs) stop costing
    compute.
    """
    configs = list(configs)
    if not configs:
        raise ValueError("a population needs at least one config")
    for i, config in enumerate(configs[1:], start=1):
        mismatch = shape_mismatch(config, shape_key(configs[0]), "member 0 has")
        if mismatch:
            raise ValueError(f"member {i} does not share the shape of member 0: {mismatch}")
    pop = Population(
        configs[0],
        len(configs),
        dataset=dataset,
        keep_models=keep_models,
        resizable=True,
        jit=jit,
    )
    for i, config in enumerate(configs):
        pop.add(config, key=i)
    results: dict[int, TrainResult] = {}
    while pop.live:
        results.update(pop.run_epoch(on_epoch_end, on_preflight))
    return [results[i] for i in range(len(configs))]


def preflight(
    config: TrainConfig, *, dataset: Dataset | None = None
) -> tuple[PreflightWarning, ...]:
    """Build the untrained model, measure its initial loss and run every check.

    ``dataset`` defaults to ``config.dataset``.
    """
    pop = Population(config, 1, dataset=dataset)
    pop.add(config)
    losses, _ = pop.initial()
    return run_checks(config, pop.num_classes, initial_loss=float(losses[0]))
