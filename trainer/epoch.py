"""One epoch of a population as graph code: a ``tf.while_loop`` over the batches.

Keras' ``fit`` pays a Python round trip per step, which dominates for small MLPs. Here
the whole epoch is one traced function: the loop's condition checks that some member is
still live, and each step checks per member that the batch loss and gradient norm are
finite. The first non-finite batch puts that member out before its update is applied,
so a divergence is caught on the very batch where it happens. The maths of a step (the
model, its gradients, the optimizer update) come from :class:`trainer.graph.SlotGraph`;
this module only runs them over the batches and keeps the running sums.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

LossesAndGrads = Callable[[Any, Any], tuple[Any, Any, list[Any], Any]]
"""``(x, y) -> (logits, losses, gradients, gradient norms)``, losses and norms per member."""

Apply = Callable[[Sequence[Any], Any], None]
"""``(gradients, finite)``: one optimizer step of the members whose batch was finite."""


SUMS = (
    "loss_sum", "correct", "seen", "g_sum", "g_max", "last_loss",
    "trend_l", "trend_tl", "trend_ll",
)  # fmt: skip
"""The running sums of an epoch, in order. ``trend_*`` are the batch losses' least-squares
sums (of losses, of batch index x loss, of squared losses; float64; their count is the
epoch's finite batches), from which :func:`trainer.loss_trend.batch_trend` tells a loss
falling within the epoch from noise."""


def accumulate(
    tf: Any,
    finite: Any,
    sums: Sequence[Any],
    loss: Any,
    count: Any,
    hits: Any,
    g_norm: Any,
    step: Any,
) -> tuple[Any, ...]:
    """The running sums (:data:`SUMS`) of the compiled epoch after batch ``step`` (its
    0-based index, inside the graph); a batch that is not ``finite`` leaves them as they
    were. Elementwise, so one run or a population's members alike."""
    loss_sum, correct, seen, g_sum, g_max, last_loss, s_l, s_tl, s_ll = sums
    loss64 = tf.cast(loss, tf.float64)
    t = tf.cast(step, tf.float64)
    return (
        tf.where(finite, loss_sum + loss * count, loss_sum),
        tf.where(finite, correct + hits, correct),
        tf.where(finite, seen + count, seen),
        tf.where(finite, g_sum + g_norm, g_sum),
        tf.where(finite, tf.maximum(g_max, g_norm), g_max),
        tf.where(finite, loss, last_loss),
        tf.where(finite, s_l + loss64, s_l),
        tf.where(finite, s_tl + t * loss64, s_tl),
        tf.where(finite, s_ll + loss64 * loss64, s_ll),
    )


def make_epoch(
    tf: Any,
    losses_and_grads: LossesAndGrads,
    apply: Apply,
    *,
    batch: int,
    examples: int,
    shared: bool,
) -> tuple[Callable[..., Any], Callable[..., Any] | None]:
    """The epoch: each member its own order of ``examples`` examples (``order`` is
    ``(K, examples)``), or, ``shared``, one order for every member (``order`` is
    ``(1, examples)``: one ``(batch, features)`` block per step, which the batched
    matmul broadcasts; ~2x faster at K=64 than K gathered batches).

    Shapes are static: the full batches run in a ``tf.while_loop`` (the first
    function), the last, partial one (if any) once after it (the second, taking the
    first's state), so every shape computation folds away at trace time. Both return
    ``(live, batches, *SUMS, bad_loss, bad_grad)`` per slot.
    """
    full, rest = divmod(examples, batch)
    rows = 1 if shared else -1  # -1: every slot (the population may be resized)

    def take(a: Any, idx: Any) -> Any:
        return tf.gather(a, tf.reshape(idx, [-1]) if shared else idx)

    def step(xb: Any, yb: Any, state: tuple[Any, ...]) -> tuple[Any, ...]:
        live, batches, *sums = state[: 2 + len(SUMS)]
        bad_loss, bad_grad = state[2 + len(SUMS) :]
        logits, losses, grads, g_norm = losses_and_grads(xb, yb)
        ok = tf.logical_and(tf.math.is_finite(losses), tf.math.is_finite(g_norm))
        finite = tf.logical_and(live, ok)
        bad = tf.logical_and(live, tf.logical_not(ok))
        apply(grads, finite)  # a member that is out does not move (trainer.optimizers)
        pred = tf.argmax(logits, -1, output_type=tf.int32)
        hits = tf.reduce_sum(
            tf.cast(tf.equal(pred, yb[None] if shared else yb), tf.float32), axis=-1
        )
        count = float(yb.shape[-1])
        return (
            finite,
            batches + tf.cast(live, tf.int32),
            *accumulate(tf, finite, sums, losses, count, hits, g_norm, batches),
            tf.where(bad, losses, bad_loss),
            tf.where(bad, g_norm, bad_grad),
        )

    def epoch(x: Any, y: Any, order: Any, active: Any) -> Any:
        k = tf.shape(active)
        zeros = tf.zeros(k, tf.float32)
        nan = tf.fill(k, float("nan"))
        zeros64 = tf.zeros(k, tf.float64)
        sums = (zeros, zeros, zeros, zeros, zeros, nan, *[zeros64] * 3)  # SUMS
        state = (active, tf.zeros(k, tf.int32), *sums, zeros, zeros)

        def cond(i: Any, live: Any, *_: Any) -> Any:
            return tf.logical_and(i < full, tf.reduce_any(live))

        def body(i: Any, *state: Any) -> Any:
            idx = tf.slice(order, [0, i * batch], [rows, batch])
            return (i + 1, *step(take(x, idx), take(y, idx), state))

        if full:
            state = tf.while_loop(cond, body, (tf.constant(0), *state))[1:]
        return state

    def tail(x: Any, y: Any, order: Any, state: tuple[Any, ...]) -> Any:
        # members out by now are masked by ``live`` like in the loop
        idx = tf.slice(order, [0, full * batch], [rows, rest])
        return step(take(x, idx), take(y, idx), tuple(state))

    return epoch, tail if rest else None
