"""Checks that need the data, done once before any trial or run is created.

A search space can be valid on its own and still be unusable: its dataset file is
missing or corrupt, or its batch size is larger than the training set. Without these
checks every trial would fail the same way (and leave a failed trial and a failed
MLflow run behind); with them, the user gets one line and exit code 2, and nothing in
the store changes.
"""

from __future__ import annotations

from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweeps.errors import UserError
from sweeps.space import SearchSpace
from trainer.config import DEFAULTS


def check_space_data(space: SearchSpace) -> None:
    """Load every dataset the space can pick and check the largest batch size fits the
    smallest training set; raises ``DataError`` or :class:`UserError` (one line)."""
    from trainer.data import load_dataset, train_size
    from trainer.inputs import table_options
    from trainer.shape import batch_rule

    datasets = [str(v) for v in space.extremes("dataset")]
    splits = [float(v) for v in space.extremes("validation_split")]
    batch, where = _largest_batch(space)
    where_src = f"search space '{space.source}': " if space.source else ""
    for name in dict.fromkeys(datasets):
        # DataError: one line naming the file and the problem
        data = load_dataset(name, **table_options(space.fixed))
        split = max(splits)
        where_data = f" (dataset {name!r}, validation_split {split:g})"
        broken = batch_rule(batch, train_size(data, split), where_data)
        if broken:
            raise UserError(f"{where_src}{where}: {broken}")


def _largest_batch(space: SearchSpace) -> tuple[int, str]:
    dist = space.distributions.get("batch_size")
    if isinstance(dist, CategoricalDistribution):
        return max(int(str(c)) for c in dist.choices), "params.batch_size.choices"
    if isinstance(dist, IntDistribution | FloatDistribution):
        return int(dist.high), "params.batch_size.high"
    return int(space.fixed.get("batch_size", DEFAULTS["batch_size"])), "params.batch_size"
