"""Cheap health signals of a model, measured on a fixed probe batch.

Nothing here runs per training step. The probe batch is the first :data:`PROBE_SIZE`
training examples; :class:`trainer.population.Population` measures, in one compiled call
at the end of each epoch, for every member:

* ``dead_fraction`` (ReLU only): the share of hidden units that are never active
  (output exactly 0) on any probe example. A dead ReLU passes no gradient, so it stays
  dead; a large share means the layer has lost most of its capacity.
* ``saturated_fraction`` (sigmoid and tanh only): the share of hidden units pinned near a
  bound of their range (within :data:`SATURATION_MARGIN` of it) on at least
  :data:`PINNED_SHARE` of the probe examples. A pinned unit's derivative is ~0, so it
  learns very slowly, if at all.

For other activations the corresponding signal is ``None`` (it does not apply).
:meth:`Population.initial` measures the loss and gradient norm of the untrained model on the
same batch, once, before the first step: the pre-flight initial-loss check and the
``exploded`` label compare against them.
"""

from __future__ import annotations

PROBE_SIZE = 512
"""At most this many training examples (the first ones) form the probe batch."""

SATURATION_MARGIN = 0.01
"""A sigmoid/tanh output within this fraction of its range of a bound is 'at the bound'."""

PINNED_SHARE = 0.9
"""A unit at a bound on at least this share of the probe examples is saturated."""

DEAD_ACTIVATIONS = ("relu",)
SATURATING_ACTIVATIONS = ("sigmoid", "tanh")


__all__ = [
    "DEAD_ACTIVATIONS",
    "PINNED_SHARE",
    "PROBE_SIZE",
    "SATURATING_ACTIVATIONS",
    "SATURATION_MARGIN",
]
