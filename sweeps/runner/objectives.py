"""What a finished training run scores on each of a study's objectives.

The epoch metrics come from the last epoch record; ``params_count`` and
``seconds_per_epoch`` describe the network's cost, so a study can trade accuracy against
size or speed (a multi-objective study with a Pareto front)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from sweeps.space import StudySettings
from trainer.config import TrainConfig
from trainer.results import EpochRecord, TrainResult


def metric_value(metric: str, record: EpochRecord) -> float | None:
    """The study metric from an epoch record; ``val_*`` falls back to the training metric
    when there is no validation split."""
    value = getattr(record, metric, None)
    if value is None and metric.startswith("val_"):
        value = getattr(record, metric[4:], None)
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def layer_params(sizes: Sequence[int]) -> int:
    """Weights and biases of a dense MLP whose layers have ``sizes`` units (inputs first)."""
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def param_count(config: TrainConfig) -> int:
    """Weights and biases of the MLP ``config`` builds on its dataset's shapes."""
    from trainer.inputs import dataset_for

    data = dataset_for(config)  # cached per process: the trial just loaded it
    return layer_params([data.num_features, *config.hidden_layers, data.num_classes])


def objective_value(name: str, result: TrainResult) -> float | None:
    """One objective of a finished run (``None`` when it has no finite value)."""
    return _objective(name, result.config, result.history)


def objective_values(settings: StudySettings, result: TrainResult) -> tuple[float | None, ...]:
    """Every objective of the study, in its order."""
    return tuple(objective_value(name, result) for name in settings.objectives)


def objective_values_so_far(
    settings: StudySettings, config: TrainConfig, records: Sequence[EpochRecord]
) -> tuple[float, ...] | None:
    """Every objective after the epochs ``records`` (a rung's values); ``None`` when one
    is not finite."""
    values = [_objective(name, config, records) for name in settings.objectives]
    return None if any(v is None for v in values) else tuple(v for v in values if v is not None)


def _objective(name: str, config: TrainConfig, records: Sequence[EpochRecord]) -> float | None:
    if name == "params_count":
        return float(param_count(config))
    if name == "seconds_per_epoch":
        seconds = [r.seconds for r in records]
        return float(sum(seconds) / len(seconds)) if seconds else None
    return metric_value(name, records[-1]) if records else None
