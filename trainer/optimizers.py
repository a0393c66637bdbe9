"""The optimizers' update formulas, vectorised over a population's members.

One function per optimizer, as Keras 3's ``update_step``: each takes the step's inputs
for one variable (:class:`StepInputs`, every tensor with the members on axis 0) and
returns the :class:`Update` to apply. Which member uses which formula, and writing the
results into the slot variables, is the graph's job (:mod:`trainer.graph`); here is only
the arithmetic, checked against Keras' ``fit`` in ``tests/trainer``.

A member that is out (its batch was not finite) must not move: its learning rate,
momentum and Adam step size come in as zero, and ``multiply_no_nan`` keeps its
non-finite gradient out of every product (``g_in`` is the gradient with those members'
rows zeroed, for the formulas that square it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Keras 3 defaults of keras.optimizers.Adam / RMSprop (trainer.model.build_optimizer).
ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
RMSPROP_RHO = 0.9
EPSILON = 1e-7

MASKED_GRADIENT = frozenset({"adam", "rmsprop"})
"""Optimizers whose formulas take ``g_in`` (the gradient zeroed for members that are out)."""


@dataclass(frozen=True)
class StepInputs:
    """One variable's step, members on axis 0; scalars per member are reshaped to the
    gradient's rank (``(K, 1, ...)``)."""

    g: Any
    """The gradient, possibly non-finite for members that are out."""
    g_in: Any
    """``g`` with the rows of members that are out zeroed (``None`` when no formula needs it)."""
    m: Any
    """The first slot variable (momentum's velocity, Adam's first moment)."""
    v: Any
    """The second slot variable (Adam's second moment, RMSprop's average)."""
    lr: Any
    """The learning rate, zero for members that are out."""
    momentum: Any
    """The momentum coefficient, zero for members that are out."""
    alpha: Any
    """Adam's bias-corrected step size (:func:`adam_step_size`), or ``None``."""


@dataclass(frozen=True)
class Update:
    """What one optimizer does to a variable: ``variable -= step``; ``m`` / ``v`` are the
    slot variables' new values (``None``: the formula does not use that slot)."""

    step: Any
    m: Any = None
    v: Any = None


def sgd(tf: Any, s: StepInputs) -> Update:
    """``variable -= gradient * lr``."""
    return Update(step=tf.math.multiply_no_nan(s.g, s.lr))


def momentum(tf: Any, s: StepInputs) -> Update:
    """``m = m * momentum - gradient * lr; variable += m`` (``variable - (-m)``, exactly)."""
    m_new = tf.math.multiply_no_nan(s.m, s.momentum) - tf.math.multiply_no_nan(s.g, s.lr)
    return Update(step=-m_new, m=m_new)


def adam(tf: Any, s: StepInputs) -> Update:
    """Keras' Adam (no AMSGrad): moments updated in place, the step scaled by ``alpha``."""
    m_new = s.m + (s.g_in - s.m) * (1 - ADAM_BETA_1)
    v_new = s.v + (tf.square(s.g_in) - s.v) * (1 - ADAM_BETA_2)
    return Update(step=(m_new * s.alpha) / (tf.sqrt(v_new) + EPSILON), m=m_new, v=v_new)


def rmsprop(tf: Any, s: StepInputs) -> Update:
    """Keras' RMSprop with rho 0.9, no momentum, not centered."""
    v_new = RMSPROP_RHO * s.v + (1 - RMSPROP_RHO) * tf.square(s.g_in)
    return Update(step=(s.lr * s.g_in) / tf.sqrt(v_new + EPSILON), v=v_new)


UPDATES: dict[str, Callable[[Any, StepInputs], Update]] = {
    "sgd": sgd,
    "momentum": momentum,
    "adam": adam,
    "rmsprop": rmsprop,
}
"""Each optimizer of :data:`trainer.config.OPTIMIZERS` by name."""


def adam_step_size(tf: Any, lr_now: Any, count: Any) -> Any:
    """Adam's ``lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)`` per member, ``t`` the number of
    steps the member applied (``count``, at least 1: Keras' ``iterations + 1``)."""
    local_step = tf.cast(tf.maximum(count, 1), tf.float32)
    beta_1_power = tf.pow(tf.constant(ADAM_BETA_1, tf.float32), local_step)
    beta_2_power = tf.pow(tf.constant(ADAM_BETA_2, tf.float32), local_step)
    return lr_now * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
