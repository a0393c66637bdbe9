"""Train a *population*: K configs side by side as one vectorised model in one graph.

For small MLPs a training step costs almost nothing but per-step overhead (op dispatch,
the loop, bookkeeping). Training K trials at once shares that overhead: every layer
holds a ``(K, in, out)`` kernel and a ``(K, out)`` bias, each layer is one batched
matmul, and the K members see one shared stream of batches. Each member keeps its own
learning rate, initialisation, activation, output activation, loss and optimizer, and
follows the trajectory :func:`trainer.training.train` gives that config alone: the same
initial weights, the same shuffling, the same losses (:mod:`trainer.losses`) and the
Keras 3 optimizer formulas, up to floating-point rounding.

Members must share :func:`cohort_key` (architecture, batch size, data, epochs, seed),
which fixes the shapes and the batch stream. A whole epoch runs in one ``tf.function``
(a ``tf.while_loop`` over batches, as in the single engine), with a per-member check
that the batch loss and gradient norm are finite. A member that fails it is out from
that batch on, exactly where the single engine stops: its weights are kept as they
were before that batch and its :class:`~trainer.outcome.Divergence` is recorded the
same way; nothing of it reaches the other members (every op is per member). A member
stopped by ``on_epoch_end`` (a pruner) is out likewise; the loop ends early when no
member is left.

How "out" is implemented, cheaply: a member's weights are copied into a snapshot (with
``tf.where`` per member, inside a ``tf.cond`` that runs only on a step where some member
fails, or between epochs for a stopped member) and restored after each epoch, before
any evaluation. In between, the slices of members that are out are left to drift: no
extra pass over every weight tensor per step to mask them, and no multiplication by a
mask anywhere (``0 * NaN`` is NaN). Their optimizer slots drift too; they never train
again.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer._tf import tf_keras
from trainer.config import COHORT_FIELDS, OPTIMIZERS, TrainConfig
from trainer.data import Dataset, load_dataset
from trainer.losses import per_example_loss
from trainer.model import build_model, initializer, layer_seed
from trainer.outcome import Divergence
from trainer.preflight import PreflightWarning, run_checks
from trainer.signals import (
    DEAD_ACTIVATIONS,
    PINNED_SHARE,
    PROBE_SIZE,
    SATURATING_ACTIVATIONS,
    SATURATION_MARGIN,
)
from trainer.training import (
    EpochRecord,
    TrainResult,
    _accumulate,
    _chance_accuracy,
    _classify_run,
    _epoch_end,
    _split,
)

__all__ = [
    "COHORT_FIELDS",
    "MEMBER_FIELDS",
    "PopulationCallback",
    "PopulationPreflight",
    "cohort_key",
    "train_population",
]


MEMBER_FIELDS = (
    "learning_rate",
    "weight_init",
    "weight_init_scale",
    "bias_init",
    "bias_init_scale",
    "activation",
    "output_activation",
    "loss",
    "optimizer",
    "momentum",
)
"""Fields the members of one population may differ in."""

PopulationCallback = Callable[[int, EpochRecord], bool | None]
"""``(member index, record)`` after each epoch of a member still training; ``True`` stops it."""

PopulationPreflight = Callable[[int, tuple[PreflightWarning, ...]], None]
"""``(member index, warnings)`` once per member, before the first step."""

# Keras 3 defaults of keras.optimizers.Adam / RMSprop (trainer.model.build_optimizer).
_ADAM_BETA_1 = 0.9
_ADAM_BETA_2 = 0.999
_RMSPROP_RHO = 0.9
_EPSILON = 1e-7
_SLOTS = {"sgd": (), "momentum": ("m",), "adam": ("m", "v"), "rmsprop": ("v",)}
_EVAL_FLOATS = 1 << 23
"""Evaluation runs over chunks of examples so that K * chunk * layer width stays below this."""


def cohort_key(config: TrainConfig) -> tuple[Any, ...]:
    """What the members of one population must have in common (:data:`COHORT_FIELDS`)."""
    return tuple(getattr(config, name) for name in COHORT_FIELDS)


@dataclass(frozen=True)
class _Group:
    """Members ``[start, stop)`` (internal order) that use one optimizer kind."""

    kind: str
    start: int
    stop: int


class _Population:
    """The K members' variables, optimizer slots and compiled epoch / evaluation.

    ``configs`` must be sorted by optimizer kind: each kind then updates one contiguous
    slice of every variable.
    """

    def __init__(
        self,
        configs: Sequence[TrainConfig],
        num_features: int,
        num_classes: int,
        probe: tuple[np.ndarray, np.ndarray],
        examples: int,
    ) -> None:
        tf, keras = tf_keras()
        self._tf = tf
        self.size = len(configs)
        first = configs[0]
        sizes = [num_features, *first.hidden_layers, num_classes]
        self.num_classes = num_classes
        self.width = max(sizes[1:])  # widest activation per example and member

        self.kernels: list[Any] = []
        self.biases: list[Any] = []
        cache: dict[tuple[Any, ...], np.ndarray] = {}  # members often share an init
        for layer, (fan_in, units) in enumerate(itertools.pairwise(sizes)):
            kernel = np.stack([_initial(c, layer, False, (fan_in, units), cache) for c in configs])
            bias = np.stack([_initial(c, layer, True, (units,), cache) for c in configs])
            self.kernels.append(tf.Variable(kernel, name=f"kernel_{layer}"))
            self.biases.append(tf.Variable(bias, name=f"bias_{layer}"))
        self.variables = [v for pair in zip(self.kernels, self.biases, strict=True) for v in pair]
        self._snapshots = [
            tf.Variable(v, trainable=False, name=f"snapshot_{i}")
            for i, v in enumerate(self.variables)
        ]

        # optimizers
        self.groups: list[_Group] = []
        for kind in OPTIMIZERS:
            members = [i for i, c in enumerate(configs) if c.optimizer == kind]
            if members:
                if members != list(range(members[0], members[-1] + 1)):
                    raise ValueError("population members must be sorted by optimizer")
                self.groups.append(_Group(kind, members[0], members[-1] + 1))
        self._lr = [
            tf.constant([c.learning_rate for c in configs[g.start : g.stop]], tf.float32)
            for g in self.groups
        ]
        self._momentum = [
            tf.constant([c.momentum for c in configs[g.start : g.stop]], tf.float32)
            for g in self.groups
        ]
        self._slots = [
            {
                name: [
                    tf.Variable(
                        tf.zeros((g.stop - g.start, *v.shape[1:])), trainable=False, name=name
                    )
                    for v in self.variables
                ]
                for name in _SLOTS[g.kind]
            }
            for g in self.groups
        ]
        self._iterations = [
            tf.Variable(tf.zeros((g.stop - g.start,), tf.int64), trainable=False)
            if g.kind == "adam"
            else None
            for g in self.groups
        ]

        # activations and (loss, output activation) pairs: static groups of members
        self._activations = _member_groups([c.activation for c in configs])
        self._act_fns = {name: keras.activations.get(name) for name, _ in self._activations}
        self._losses = _member_groups([(c.loss, c.output_activation) for c in configs])

        # probe batch signals (trainer.signals), per member
        self._probe_x = tf.constant(probe[0], dtype=tf.float32)
        self._probe_y = tf.constant(probe[1], dtype=tf.int32)
        hidden = int(sum(first.hidden_layers))
        n_probe = len(probe[0])
        self.hidden_units = hidden
        self.dead = np.array([c.activation in DEAD_ACTIVATIONS for c in configs])
        self.saturating = np.array([c.activation in SATURATING_ACTIVATIONS for c in configs])
        if not (hidden and n_probe):
            self.dead[:] = False
            self.saturating[:] = False
        bounds = [(0.0, 1.0) if c.activation == "sigmoid" else (-1.0, 1.0) for c in configs]
        margins = [SATURATION_MARGIN * (high - low) for low, high in bounds]
        self._near_low = tf.constant(
            [[[low + m]] for (low, _), m in zip(bounds, margins, strict=True)], tf.float32
        )
        self._near_high = tf.constant(
            [[[high - m]] for (_, high), m in zip(bounds, margins, strict=True)], tf.float32
        )

        self.epoch = tf.function(self._make_epoch(first.batch_size, examples))
        self._evaluate_chunk = tf.function(self._evaluate_sums, reduce_retracing=True)
        self._units = (
            tf.function(self._unit_counts) if (self.dead.any() or self.saturating.any()) else None
        )
        self.save = tf.function(self._save)
        self.restore = tf.function(self._restore)

    # -- model ---------------------------------------------------------------------

    def _hidden_and_logits(self, x: Any) -> tuple[list[Any], Any]:
        """Hidden activations ``[(K, n, units)]`` and logits ``(K, n, classes)``."""
        tf = self._tf
        hidden: list[Any] = []
        h = x[None]  # (1, n, features): broadcast over the members by the batched matmul
        last = len(self.kernels) - 1
        for layer, (w, b) in enumerate(zip(self.kernels, self.biases, strict=True)):
            z = tf.matmul(h, w) + tf.expand_dims(b, 1)
            if layer == last:
                return hidden, z
            h = self._activate(z)
            hidden.append(h)
        raise AssertionError("unreachable")

    def _activate(self, z: Any) -> Any:
        tf = self._tf
        if len(self._activations) == 1:
            return self._act_fns[self._activations[0][0]](z)
        parts = [self._act_fns[name](tf.gather(z, idx)) for name, idx in self._activations]
        return tf.dynamic_stitch([idx for _, idx in self._activations], parts)

    def _per_member(self, logits: Any, labels: Any, reduce: Callable[..., Any]) -> Any:
        """``reduce`` over examples of each member's per-example loss: ``(K,)``.

        Each (loss, output activation) pair is computed on its own members only (gathered,
        then stitched back), so no member's gradient ever passes through another pair's
        formula.
        """
        tf = self._tf
        onehot = tf.one_hot(labels, self.num_classes, dtype=logits.dtype)
        parts = []
        for (loss, output), idx in self._losses:
            sub = logits if len(self._losses) == 1 else tf.gather(logits, idx)
            target = tf.broadcast_to(onehot, tf.shape(sub))
            parts.append(reduce(per_example_loss(loss, output, sub, target), axis=-1))
        if len(parts) == 1:
            return parts[0]
        return tf.dynamic_stitch([idx for _, idx in self._losses], parts)

    def losses_and_grads(self, x: Any, y: Any) -> tuple[Any, Any, list[Any], Any]:
        """Logits, mean loss per member, gradients and gradient norm per member."""
        tf = self._tf
        with tf.GradientTape() as tape:
            _, logits = self._hidden_and_logits(x)
            losses = self._per_member(logits, y, tf.reduce_mean)
        grads = tape.gradient(losses, self.variables)  # d(sum of losses): per member
        norms = [tf.math.reduce_euclidean_norm(g, axis=list(range(1, len(g.shape)))) for g in grads]
        g_norm = tf.sqrt(tf.add_n([tf.square(n) for n in norms]))
        return logits, losses, grads, g_norm

    # -- optimizers: the Keras 3 update_step formulas, vectorised over members -------

    def _apply(self, grads: Sequence[Any], finite: Any) -> None:
        tf = self._tf
        alphas: list[Any] = []
        for gi, g in enumerate(self.groups):
            alpha = None
            iterations = self._iterations[gi]
            if iterations is not None:  # adam; counts the steps a member applied, as Keras
                count = iterations + tf.cast(finite[g.start : g.stop], tf.int64)
                iterations.assign(count)
                local_step = tf.cast(count, tf.float32)  # Keras: iterations + 1
                beta_1_power = tf.pow(tf.constant(_ADAM_BETA_1, tf.float32), local_step)
                beta_2_power = tf.pow(tf.constant(_ADAM_BETA_2, tf.float32), local_step)
                alpha = self._lr[gi] * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
            alphas.append(alpha)
        whole = len(self.groups) == 1
        for vi, (var, grad) in enumerate(zip(self.variables, grads, strict=True)):
            steps = []
            for gi, g in enumerate(self.groups):
                dw = grad if whole else grad[g.start : g.stop]
                steps.append(self._group_step(gi, g.kind, vi, dw, alphas[gi]))
            var.assign_sub(steps[0] if whole else tf.concat(steps, axis=0))

    def _group_step(self, gi: int, kind: str, vi: int, g: Any, alpha: Any) -> Any:
        """What one optimizer kind subtracts from its members' slice of variable ``vi``."""
        tf = self._tf
        shape = [-1] + [1] * (len(g.shape) - 1)
        lr = tf.reshape(self._lr[gi], shape)
        if kind == "sgd":  # SGD: variable -= gradient * lr
            return g * lr
        slots = self._slots[gi]
        if kind == "momentum":  # SGD(momentum): m = m * momentum - gradient * lr; var += m
            m = slots["m"][vi]
            m_new = m * tf.reshape(self._momentum[gi], shape) - g * lr
            m.assign(m_new)
            return -m_new  # var - (-m) == var + m exactly
        if kind == "adam":
            m, v = slots["m"][vi], slots["v"][vi]
            m_new = m + (g - m) * (1 - _ADAM_BETA_1)
            v_new = v + (tf.square(g) - v) * (1 - _ADAM_BETA_2)
            m.assign(m_new)
            v.assign(v_new)
            return (m_new * tf.reshape(alpha, shape)) / (tf.sqrt(v_new) + _EPSILON)
        v = slots["v"][vi]  # rmsprop (rho 0.9, no momentum, not centered)
        v_new = _RMSPROP_RHO * v + (1 - _RMSPROP_RHO) * tf.square(g)
        v.assign(v_new)
        return (lr * g) / tf.sqrt(v_new + _EPSILON)

    # -- members that are out -------------------------------------------------------

    def _save(self, members: Any) -> None:
        """Snapshot the current weights of ``members`` (bool ``(K,)``)."""
        tf = self._tf
        for var, snap in zip(self.variables, self._snapshots, strict=True):
            mask = tf.reshape(members, [-1] + [1] * (len(var.shape) - 1))
            snap.assign(tf.where(mask, var, snap))

    def _restore(self, members: Any) -> None:
        """Put the snapshot weights of ``members`` back."""
        tf = self._tf
        for var, snap in zip(self.variables, self._snapshots, strict=True):
            mask = tf.reshape(members, [-1] + [1] * (len(var.shape) - 1))
            var.assign(tf.where(mask, snap, var))

    # -- compiled epoch ------------------------------------------------------------

    def _make_epoch(self, batch: int, examples: int) -> Callable[..., Any]:
        """The compiled epoch over ``examples`` shuffled examples in batches of ``batch``.

        Shapes are static: the full batches run in a ``tf.while_loop``, the last, partial
        one (if any) once after it, so every shape computation folds away at trace time.
        """
        tf = self._tf
        full, rest = divmod(examples, batch)

        def step(xb: Any, yb: Any, state: tuple[Any, ...]) -> tuple[Any, ...]:
            live, batches, loss_sum, correct, seen, g_sum, g_max, last, bad_loss, bad_grad = state
            logits, losses, grads, g_norm = self.losses_and_grads(xb, yb)
            ok = tf.logical_and(tf.math.is_finite(losses), tf.math.is_finite(g_norm))
            finite = tf.logical_and(live, ok)
            bad = tf.logical_and(live, tf.logical_not(ok))
            # keep a failing member's weights from before this batch (see module doc)
            tf.cond(tf.reduce_any(bad), lambda: self._save(bad), lambda: None)
            self._apply(grads, finite)
            pred = tf.argmax(logits, -1, output_type=tf.int32)
            hits = tf.reduce_sum(tf.cast(tf.equal(pred, yb[None, :]), tf.float32), axis=-1)
            count = float(yb.shape[0])
            sums = (loss_sum, correct, seen, g_sum, g_max, last)
            return (
                finite,
                batches + tf.cast(live, tf.int32),
                *_accumulate(tf, finite, sums, losses, count, hits, g_norm),
                tf.where(bad, losses, bad_loss),
                tf.where(bad, g_norm, bad_grad),
            )

        def epoch(x: Any, y: Any, order: Any, active: Any) -> Any:
            zeros = tf.zeros((self.size,), tf.float32)
            state = (
                active,
                tf.zeros((self.size,), tf.int32),
                zeros,
                zeros,
                zeros,
                zeros,
                zeros,
                tf.fill((self.size,), float("nan")),
                zeros,
                zeros,
            )

            def cond(i: Any, live: Any, *_: Any) -> Any:
                return tf.logical_and(i < full, tf.reduce_any(live))

            def body(i: Any, *state: Any) -> Any:
                idx = tf.slice(order, [i * batch], [batch])
                return (i + 1, *step(tf.gather(x, idx), tf.gather(y, idx), state))

            if full:
                state = tf.while_loop(cond, body, (tf.constant(0), *state))[1:]
            if rest:  # members out by now are masked by ``live`` like in the loop
                idx = tf.slice(order, [full * batch], [rest])
                state = step(tf.gather(x, idx), tf.gather(y, idx), state)
            return state

        return epoch

    # -- evaluation and signals ----------------------------------------------------

    def _evaluate_sums(self, x: Any, y: Any) -> Any:
        tf = self._tf
        _, logits = self._hidden_and_logits(x)
        loss_sum = self._per_member(logits, y, tf.reduce_sum)
        pred = tf.argmax(logits, -1, output_type=tf.int32)
        hits = tf.reduce_sum(tf.cast(tf.equal(pred, y[None, :]), tf.float32), axis=-1)
        return loss_sum, hits

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy of every member on ``(x, y)``, in chunks of examples."""
        tf = self._tf
        n = len(x)
        chunk = max(1, _EVAL_FLOATS // (self.size * self.width))
        loss_sum = np.zeros(self.size)
        hit_sum = np.zeros(self.size)
        for s in range(0, n, chunk):
            xs = tf.constant(x[s : s + chunk], dtype=tf.float32)
            ys = tf.constant(y[s : s + chunk], dtype=tf.int32)
            loss, hits = self._evaluate_chunk(xs, ys)
            loss_sum += loss.numpy()
            hit_sum += hits.numpy()
        return loss_sum / n, hit_sum / n

    def _unit_counts(self, x: Any) -> Any:
        tf = self._tf
        hidden, _ = self._hidden_and_logits(x)
        dead = tf.zeros((self.size,))
        pinned = tf.zeros((self.size,))
        for h in hidden:
            never = tf.reduce_all(h <= 0.0, axis=1)
            dead += tf.reduce_sum(tf.cast(never, tf.float32), axis=1)
            near = tf.logical_or(h <= self._near_low, h >= self._near_high)
            share = tf.reduce_mean(tf.cast(near, tf.float32), axis=1)
            pinned += tf.reduce_sum(tf.cast(share >= PINNED_SHARE, tf.float32), axis=1)
        return dead, pinned

    def units(self) -> tuple[list[float | None], list[float | None]]:
        """Dead and saturated shares of each member's hidden units (trainer.signals)."""
        if self._units is None:
            return [None] * self.size, [None] * self.size
        dead, pinned = (v.numpy() for v in self._units(self._probe_x))
        total = float(self.hidden_units)
        return (
            [float(d) / total if on else None for d, on in zip(dead, self.dead, strict=True)],
            [
                float(p) / total if on else None
                for p, on in zip(pinned, self.saturating, strict=True)
            ],
        )

    def initial(self) -> tuple[np.ndarray, np.ndarray]:
        """Loss and gradient norm of every untrained member on the probe batch."""
        if int(self._probe_x.shape[0]) == 0:
            nan = np.full(self.size, np.nan)
            return nan, nan
        _, losses, _, g_norm = self.losses_and_grads(self._probe_x, self._probe_y)
        return losses.numpy(), g_norm.numpy()


def _initial(
    config: TrainConfig,
    layer: int,
    bias: bool,
    shape: tuple[int, ...],
    cache: dict[tuple[Any, ...], np.ndarray],
) -> np.ndarray:
    """Exactly the initial value of the single engine's Keras Dense layer."""
    if bias:
        kind, scale = config.bias_init, config.bias_init_scale
    else:
        kind, scale = config.weight_init, config.weight_init_scale
    seed = layer_seed(config.seed, layer, bias)
    key = (kind, scale, seed, shape)
    if key not in cache:
        init = initializer(kind, scale, seed)
        cache[key] = np.asarray(init(shape=shape, dtype="float32"), dtype=np.float32)
    return cache[key]


def _member_groups(keys: Sequence[Any]) -> list[tuple[Any, Any]]:
    """``[(key, int32 member indices)]`` for each distinct key, in first-seen order."""
    tf, _ = tf_keras()
    seen: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        seen.setdefault(key, []).append(i)
    return [(key, tf.constant(idx, dtype=tf.int32)) for key, idx in seen.items()]


def check_cohort(configs: Sequence[TrainConfig]) -> None:
    """Raise ``ValueError`` unless ``configs`` is non-empty and shares one cohort key."""
    if not configs:
        raise ValueError("a population needs at least one config")
    key = cohort_key(configs[0])
    for i, config in enumerate(configs[1:], start=1):
        other = cohort_key(config)
        if other != key:
            diff = ", ".join(
                f"{name}={b!r} (member 0 has {a!r})"
                for name, a, b in zip(COHORT_FIELDS, key, other, strict=True)
                if a != b
            )
            raise ValueError(
                f"member {i} is not in the cohort of member 0: {diff}; members may differ "
                f"only in {', '.join(MEMBER_FIELDS)}"
            )


def train_population(
    configs: Sequence[TrainConfig],
    *,
    dataset: Dataset | None = None,
    on_epoch_end: PopulationCallback | None = None,
    on_preflight: PopulationPreflight | None = None,
    keep_models: bool = False,
) -> list[TrainResult]:
    """Train ``configs`` together; one :class:`TrainResult` per config, in order.

    Every config must have the same :func:`cohort_key` (else ``ValueError``). Each
    member's history, weights and outcome are those of ``train(config)`` alone, up to
    rounding. ``on_epoch_end(member, record)`` is called after each epoch of every
    member still training (not after the epoch in which it diverged); returning ``True``
    stops that member (``stopped_early`` unless it was its last epoch).
    ``on_preflight(member, warnings)`` gets each member's pre-flight warnings before the
    first step (they are also on the results). ``keep_models`` puts a Keras model with
    the member's final weights on each result. ``wall_time`` and ``EpochRecord.seconds``
    are the elapsed times of the whole population.
    """
    configs = list(configs)
    check_cohort(configs)
    tf, _ = tf_keras()
    first = configs[0]
    data = dataset if dataset is not None else load_dataset(first.dataset)
    x_tr, y_tr, x_val, y_val = _split(data, first)
    started = time.perf_counter()
    size = len(configs)
    # Internal order: members grouped by optimizer kind; slot j holds member perm[j].
    perm = sorted(range(size), key=lambda i: OPTIMIZERS.index(configs[i].optimizer))
    ordered = [configs[i] for i in perm]
    num_classes = data.num_classes
    n_probe = min(PROBE_SIZE, len(x_tr))
    probe = (x_tr[:n_probe], y_tr[:n_probe])
    pop = _Population(ordered, data.num_features, num_classes, probe, len(x_tr))
    initial_loss, initial_grad = pop.initial()
    warnings: list[tuple[PreflightWarning, ...]] = [()] * size
    for j, k in enumerate(perm):
        loss0 = float(initial_loss[j])
        warnings[k] = run_checks(configs[k], num_classes, initial_loss=loss0)
        if on_preflight is not None:
            on_preflight(k, warnings[k])

    xt = tf.constant(x_tr, dtype=tf.float32)
    yt = tf.constant(y_tr, dtype=tf.int32)
    rng = np.random.default_rng(first.seed)
    histories: list[list[EpochRecord]] = [[] for _ in range(size)]
    divergence: list[Divergence | None] = [None] * size
    last_batch_loss: list[float | None] = [None] * size
    stopped = [False] * size
    live = np.ones(size, dtype=bool)  # internal order
    for epoch in range(1, first.epochs + 1):
        if not live.any():
            break
        t0 = time.perf_counter()
        order = tf.constant(rng.permutation(len(x_tr)).astype(np.int32))
        ok, batches, *sums = (v.numpy() for v in pop.epoch(xt, yt, order, tf.constant(live)))
        pop.restore(tf.constant(~ok))  # members out: back to their last good weights
        val_loss = val_acc = None
        if len(x_val):
            val_loss, val_acc = pop.evaluate(x_val, y_val)
        dead, saturated = pop.units()
        seconds = time.perf_counter() - t0
        stop_now = np.zeros(size, dtype=bool)
        for j in (int(i) for i in np.flatnonzero(live)):
            k = perm[j]
            record, divergence[k], last_batch_loss[k] = _epoch_end(
                epoch,
                batches[j],
                ok[j],
                [s[j] for s in sums],
                last_batch_loss[k],
                val_loss=None if val_loss is None else float(val_loss[j]),
                val_accuracy=None if val_acc is None else float(val_acc[j]),
                seconds=seconds,
                dead_fraction=dead[j],
                saturated_fraction=saturated[j],
            )
            histories[k].append(record)
            if not ok[j]:
                live[j] = False
            elif on_epoch_end is not None and on_epoch_end(k, record):
                stopped[k] = epoch < first.epochs
                stop_now[j] = True
        if stop_now.any():
            pop.save(tf.constant(stop_now))
            live &= ~stop_now

    test_loss, test_acc = pop.evaluate(data.x_test, data.y_test)
    chance = _chance_accuracy(data.y_test, num_classes)
    kernels = [v.numpy() for v in pop.kernels]
    biases = [v.numpy() for v in pop.biases]
    wall = time.perf_counter() - started
    results: dict[int, TrainResult] = {}
    for j, k in enumerate(perm):
        history = histories[k]
        div = divergence[k]
        member_kernels = [w[j] for w in kernels]
        member_biases = [b[j] for b in biases]
        outcome = _classify_run(
            history,
            div,
            kernels=member_kernels,
            biases=member_biases,
            test_accuracy=float(test_acc[j]),
            chance_accuracy=chance,
            initial_loss=float(initial_loss[j]),
            initial_grad_norm=float(initial_grad[j]),
            config=configs[k],
        )
        model = None
        if keep_models:
            model = build_model(configs[k], data.num_features, num_classes)
            model.set_weights(
                [w for pair in zip(member_kernels, member_biases, strict=True) for w in pair]
            )
        results[k] = TrainResult(
            config=configs[k],
            outcome=outcome,
            history=tuple(history),
            test_loss=float(test_loss[j]),
            test_accuracy=float(test_acc[j]),
            chance_accuracy=chance,
            divergence=div,
            stopped_early=stopped[k],
            wall_time=wall,
            num_train=len(x_tr),
            num_validation=len(x_val),
            model=model,
            initial_loss=float(initial_loss[j]),
            initial_grad_norm=float(initial_grad[j]),
            warnings=warnings[k],
        )
    return [results[k] for k in range(size)]
