"""Search-space files: ``search_spaces/*.yaml`` -> a validated :class:`SearchSpace`.

A file has two sections::

    study:   {name, metric, direction, sampler, seed, pruner, trials, ...}
    params:  {<trainer parameter>: <fixed value> | {type: float|int|categorical, ...}}

``hidden_layers`` may also be a depth x width space, sampled define-by-run (a layer that
does not exist in a trial never reaches the sampler)::

    hidden_layers: {depth: {low: 1, high: 3}, width: {low: 16, high: 256, log: true},
                    per_layer: true}

Every problem in a file is collected with its key path (``params.learning_rate.low``)
and reported at once. Choices and bounds are also checked against the trainer's own
rules, so a sweep never starts with a value that every trial would reject.

The modules, each importing only those above it:

* :mod:`~sweeps.space.checks`: shared value checks and how a problem line reads;
* :mod:`~sweeps.space.study`: the ``study:`` section -> :class:`StudySettings`;
* :mod:`~sweeps.space.distributions`: one swept parameter -> an Optuna distribution;
* :mod:`~sweeps.space.layers`: ``hidden_layers`` as a depth x width :class:`LayerSpace`;
* :mod:`~sweeps.space.searchspace`: :class:`SearchSpace`, sampled values -> a trial's params;
* :mod:`~sweeps.space.parse`: a file -> :class:`SearchSpace` (:func:`load_space`,
  :func:`parse_space`), including what the chosen sampler cannot handle.
"""

from sweeps.space.layers import LAYER_DEPTH_PARAM, LAYER_WIDTH_PARAM, LayerSpace
from sweeps.space.parse import load_space, parse_space
from sweeps.space.searchspace import SearchSpace
from sweeps.space.study import (
    ENGINES,
    METRICS,
    PRUNER_PEERS,
    PRUNERS,
    SAMPLERS,
    StudySettings,
)

__all__ = [
    "ENGINES",
    "LAYER_DEPTH_PARAM",
    "LAYER_WIDTH_PARAM",
    "METRICS",
    "PRUNERS",
    "PRUNER_PEERS",
    "SAMPLERS",
    "LayerSpace",
    "SearchSpace",
    "StudySettings",
    "load_space",
    "parse_space",
]
