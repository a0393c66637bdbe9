"""How many trials the population engine trains side by side, and whether it should.

:func:`can_use_population` says whether a search space suits the engine (its swept
shape fields make few distinct populations); :func:`default_cohort_size` sizes the
cohort from the members' parameter count and batch activations, measured on the data
the trials will load (its features, classes and training examples), against the memory
available.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
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

from sweeps.runner.objectives import layer_params
from sweeps.space import SearchSpace
from trainer.config import DEFAULTS, SHAPE_FIELDS, TrainConfig
from trainer.data import load_dataset, train_size
from trainer.inputs import table_options

__all__ = [
    "FIRST_WAVE",
    "MAX_COHORT",
    "MAX_SUBCOHORTS",
    "DataSize",
    "can_use_population",
    "data_size",
    "default_cohort_size",
    "first_wave",
    "live_trials",
    "subcohort_count",
]

MAX_COHORT = 64
"""Largest automatic cohort: beyond it, per-step arithmetic dominates and gains flatten."""

FIRST_WAVE = 16
"""Trials of the first wave with rungs (``pruner: asha``): trained, with no refill, until
one completes. Measured on the headline sweep (benchmarks/README.md): a first wave of 16
held a 0.955 config at 35 s where all 64 slots at once took 80 s."""

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

ConfigLike = SearchSpace | TrainConfig | Mapping[str, Any]
"""A search space, one config, or a parameter dict (over :data:`~trainer.config.DEFAULTS`)."""


@dataclass(frozen=True)
class DataSize:
    """What sizing needs of a dataset: its training examples (once the validation split
    is carved off), its input features and its classes."""

    examples: int
    features: int
    classes: int


def data_size(
    dataset: str, validation_split: float, options: Mapping[str, Any] | None = None
) -> DataSize:
    """The sizes of ``dataset`` (loaded, as its trials will: cached per process);
    ``options``: a table's (see :func:`trainer.inputs.table_options`)."""
    data = load_dataset(dataset, **(options or {}))
    return DataSize(train_size(data, validation_split), data.num_features, data.num_classes)


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


def default_cohort_size(config_like: ConfigLike, available_memory_bytes: int | None = None) -> int:
    """Automatic cohort size in ``[1, MAX_COHORT]``, from parameter count and data size.

    The cohort grows until either the members' parameters make a step compute-bound
    (K x parameters ~ 4M) or their memory (weights, gradients, optimizer slots, headroom
    and the batch activations, ~36 bytes per parameter) would exceed the budget:
    ``available_memory_bytes``, else a quarter of the memory available now (at most
    2 GiB). For a search space the largest swept architecture and batch size count.
    The sizes of the data come from the data (:func:`data_size`).
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


def live_trials(space: SearchSpace, trials: int) -> int:
    """K, the trials live at once for a sweep of ``trials``: what the machine holds
    (:func:`default_cohort_size`), and with rungs (``pruner: asha``) at most a
    ``reduction_factor``-th of the trials (at least its square): each slot then
    sees several trials through, and the sampler hears of the rungs between asks
    (measured: 30 trials on mnist-mini, K = 10 against 30: best 0.930 against 0.922)."""
    size = default_cohort_size(space)
    settings = space.settings
    if settings.pruner_for("population") != "asha":
        return size
    factor = settings.reduction_factor
    return min(size, max(factor**2, trials // factor))


def first_wave(space: SearchSpace, study: optuna.Study) -> int:
    """The first wave's size (:data:`FIRST_WAVE`) for a study that judges rungs and has no
    complete trial yet; 0 (no first wave) otherwise."""
    if space.settings.pruner_for("population") != "asha":
        return 0
    if study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return 0
    return FIRST_WAVE


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


def _largest_settings(config_like: ConfigLike) -> list[dict[str, Any]]:
    """Parameter dicts covering the largest architecture / batch size a space can ask for."""
    if isinstance(config_like, TrainConfig):
        return [config_like.to_dict()]
    if not isinstance(config_like, SearchSpace):
        return [{**DEFAULTS, **dict(config_like)}]
    space = config_like
    base = space.params_for({})
    out = [base]
    for name in ("hidden_layers", "batch_size"):
        if name in space.distributions:
            out.extend({**base, name: value} for value in space.extremes(name))
    if space.layers is not None:
        out.append({**base, "hidden_layers": list(space.layers.largest())})
    return out


def _worst_case(config_like: ConfigLike) -> tuple[int, int]:
    """(parameters per member, batch activations per member) at the largest settings."""
    params = activations = 0
    for params_dict in _largest_settings(config_like):
        size = data_size(
            str(params_dict["dataset"]),
            float(params_dict["validation_split"]),
            table_options(params_dict),
        )
        hidden = [int(h) for h in params_dict.get("hidden_layers") or []]
        sizes = [size.features, *hidden, size.classes]
        batch = min(int(params_dict.get("batch_size") or 32), size.examples)
        params = max(params, layer_params(sizes))
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
