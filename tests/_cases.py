"""Parameter dicts of the classic cases the suite trains again and again.

For :meth:`trainer.config.TrainConfig.from_dict`, a search space's ``params``, or spread
into ``TrainConfig.replace``; each test adds what it varies (epochs, dataset, seed, ...).
Nielsen's network, which the benchmarks train too, is in ``benchmarks/_keras_reference.py``.
"""

from __future__ import annotations

from typing import Any

LINEAR_NORMAL: dict[str, Any] = {
    "activation": "linear",
    "output_activation": "linear",
    "weight_init": "normal",
    "weight_init_scale": 1.0,
    "bias_init": "normal",
    "bias_init_scale": 1.0,
    "loss": "mse",
    "optimizer": "sgd",
}
"""Linear units and output, N(0, 1) weights and biases, mse, plain SGD: nothing bounds the
outputs, so with a large learning rate (3.0) the loss blows up within a few batches."""

DIVERGING_NET: dict[str, Any] = {
    "hidden_layers": [30],
    **LINEAR_NORMAL,
    "learning_rate": 3.0,
    "batch_size": 10,
}
"""The classic divergence: 784-30-10 :data:`LINEAR_NORMAL`, lr 3.0, batch 10 (each test
says how many epochs)."""

TINY_PARAMS: dict[str, Any] = {
    "dataset": "mnist-mini",
    "hidden_layers": [8],
    **LINEAR_NORMAL,
    "batch_size": 100,
    "epochs": 2,
    "seed": 0,
}
"""The fixed params of the tiny search spaces (the space adds the learning rate)."""

HEALTHY: dict[str, Any] = {
    "activation": "sigmoid",
    "output_activation": "softmax",
    "loss": "crossentropy",
    "weight_init": "glorot_uniform",
    "bias_init": "zeros",
    "optimizer": "adam",
}
"""A pairing that learns: spread over :data:`TINY_PARAMS` where a test wants trials that
complete (sigmoid, softmax + crossentropy, Glorot init, Adam)."""
