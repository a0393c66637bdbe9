"""The compiled maths of a population: K models as one, every op per member.

Every layer holds a ``(K, in, out)`` kernel and a ``(K, out)`` bias and is one batched
matmul (:class:`SlotGraph`). Activations, (loss, output) pairs and optimizer kinds
present in the population (:class:`Kinds`) are each computed over all slots and
selected per slot with ``tf.where`` on a boolean mask per choice (exact, and free of
gathers); with one kind there is no selection at all. A kind that is not compiled in
yet rebuilds the compiled functions once (a retrace, :meth:`SlotGraph.compile`).

Here are the forward pass, the per-member losses and gradient norms (the first kernel's
from Gram matrices where that is cheaper), the masked optimizer step
(:mod:`trainer.optimizers`), the compiled epoch (:mod:`trainer.epoch`), evaluation in
chunks, the probe's unit counts and the choice of XLA. Which member is in which slot is
:mod:`trainer.population`'s.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer._tf import tf_keras
from trainer.config import OPTIMIZERS, TrainConfig
from trainer.epoch import make_epoch
from trainer.losses import per_example_loss
from trainer.model import initial_value
from trainer.optimizers import MASKED_GRADIENT, UPDATES, StepInputs, adam_step_size
from trainer.signals import PINNED_SHARE, SATURATION_MARGIN
from trainer.slots import SlotVariables
from trainer.tensors import DataTensors

XLA_MAX_SIZE = 32
"""Populations up to this size compile their epoch with XLA (``jit_compile``): it fuses the
step's many small elementwise ops, 1.3-2.8x faster per epoch on 2 CPU cores at K = 1..32;
at K = 64 the step is bound by memory traffic over the kernels and XLA was slower (0.8x)."""
XLA_MIN_EXAMPLES = 100_000
"""...and when a member trains on at least this many examples (training set x epochs):
compiling costs 1-4 s more than tracing, which two epochs of full MNIST repay but the
few seconds of a run on mnist-mini do not."""
RETRACE_SECONDS = 0.7
COMPILE_SECONDS = 2.5
"""What a new size of a population costs (new variables, the compiled functions traced
again; XLA compiling the epoch: the second figure, 1.6-2.7 s at batch 10-128, K = 12-18),
measured on 2 CPU cores: a resizable population drops its free slots when they would
cost more than this over the epochs its members have left."""
_GRAM_FACTOR = 50
"""A pass over a gradient counted as this many flops per element (memory-bound, against
the Gram matrices' matmuls), measured at K = 1..22, batch 10..128, on 2 CPU cores."""
_EVAL_FLOATS = 1 << 23
"""Evaluation runs over chunks of examples so that K * chunk * layer width stays below this."""


def use_xla(size: int, examples: int, jit: bool | None) -> bool:
    """Whether an epoch of ``size`` slots is compiled with XLA, members training on up to
    ``examples`` examples (training set x epochs); ``jit`` forces it (up to
    :data:`XLA_MAX_SIZE` slots)."""
    if size > XLA_MAX_SIZE:
        return False
    if jit is not None:
        return jit
    return examples >= XLA_MIN_EXAMPLES


def new_size_seconds(xla: bool) -> float:
    """What a new size of a population is measured to cost (:data:`COMPILE_SECONDS`)."""
    return COMPILE_SECONDS if xla else RETRACE_SECONDS


@dataclass(frozen=True)
class Kinds:
    """The per-member choices compiled into a population's graph (sorted, static)."""

    activations: tuple[str, ...] = ()
    losses: tuple[tuple[str, str], ...] = ()
    optimizers: tuple[str, ...] = ()

    def covers(self, config: TrainConfig) -> bool:
        return (
            config.activation in self.activations
            and (config.loss, config.output_activation) in self.losses
            and config.optimizer in self.optimizers
        )

    def with_config(self, config: TrainConfig) -> Kinds:
        return Kinds(
            tuple(sorted({*self.activations, config.activation})),
            tuple(sorted({*self.losses, (config.loss, config.output_activation)})),
            tuple(o for o in OPTIMIZERS if o in {*self.optimizers, config.optimizer}),
        )

    def mask_names(self) -> list[tuple[str, Any]]:
        """The names of the per-slot masks that select each choice."""
        return [
            *(("activation", a) for a in self.activations),
            *(("loss", pair) for pair in self.losses),
            *(("optimizer", o) for o in self.optimizers),
        ]


class SlotGraph:
    """``size`` MLPs of layer sizes ``sizes`` (features, hidden..., classes) as one
    graph over ``tensors``, trained with batches of ``batch`` examples.

    Its per-slot variables (:attr:`slots`) are the layers, the optimizer state and step
    count, each slot's learning rate and momentum, the saturation bounds of its
    activation, and one mask per compiled choice.
    """

    def __init__(self, tensors: DataTensors, sizes: Sequence[int], size: int, batch: int):
        tf, _ = tf_keras()
        self._tf = tf
        self.tensors = tensors
        self.sizes = list(sizes)
        self.num_classes = self.sizes[-1]
        self.width = max(self.sizes[1:])
        self.batch = batch
        self.num_train = int(tensors.x_train.shape[0])
        self.slots = SlotVariables(tf, size)
        self._init_cache: dict[tuple[Any, ...], np.ndarray] = {}
        for layer, (fan_in, units) in enumerate(itertools.pairwise(self.sizes)):
            for part, shape in (("kernel", (fan_in, units)), ("bias", (units,))):
                init = functools.partial(
                    initial_value,
                    layer=layer,
                    bias=part == "bias",
                    shape=shape,
                    cache=self._init_cache,
                )
                self.slots.add((part, layer), np.zeros(shape, np.float32), init, trainable=True)
        for i, key in enumerate(self.slots.names()):  # kernel 0, bias 0, kernel 1, ...
            for slot_kind in ("m", "v"):
                self.slots.add((slot_kind, i), self.slots.empty(key))
        self.slots.add("iterations", np.zeros((), np.int64))
        self.slots.add("lr", np.zeros((), np.float32), lambda c: c.learning_rate)
        self.slots.add("momentum", np.zeros((), np.float32), lambda c: c.momentum)
        self.slots.add("near_low", np.full((1, 1), -1.0, np.float32), lambda c: _near(c)[0])
        self.slots.add("near_high", np.full((1, 1), 1.0, np.float32), lambda c: _near(c)[1])
        self._bind()
        self.kinds: Kinds | None = None
        self._compiled: dict[str, Any] = {}
        self._act_fns: dict[str, Callable[[Any], Any]] = {}

    @property
    def size(self) -> int:
        return self.slots.size

    def _bind(self) -> None:
        """Name the variables for the model and optimizer code (after (re)creation)."""
        v = self.slots
        layers = len(self.sizes) - 1
        self.kernels = [v[("kernel", i)] for i in range(layers)]
        self.biases = [v[("bias", i)] for i in range(layers)]
        self.variables = [x for pair in zip(self.kernels, self.biases, strict=True) for x in pair]
        self._m = [v[("m", i)] for i in range(2 * layers)]
        self._v = [v[("v", i)] for i in range(2 * layers)]
        self._iterations, self._lr, self._momentum = v["iterations"], v["lr"], v["momentum"]
        self._near_low, self._near_high = v["near_low"], v["near_high"]
        self._masks = {key[1]: v[key] for key in v.names() if key[0] == "mask"}

    def write(self, layout: list[int], pending: dict[int, TrainConfig | None]) -> bool:
        """Write new members' initial rows and freed slots' empty ones, laid out as
        ``layout`` (:meth:`SlotVariables.write`); ``True`` when the size changed: then
        :meth:`compile` again."""
        if len(self._init_cache) > 256:
            self._init_cache.clear()
        resized = self.slots.write(layout, pending)
        if resized:
            self._bind()
        return resized

    def compile(self, kinds: Kinds, *, xla: bool) -> None:
        """Build the compiled functions for ``kinds`` (traced on their first call);
        existing masks are kept. ``xla``: compile the epoch's full batches with XLA."""
        tf, keras = tf_keras()
        for name in kinds.mask_names():
            if ("mask", name) not in self.slots:
                self.slots.add(("mask", name), np.zeros((), bool), _has_choice(name))
        self._bind()
        self.kinds = kinds
        self._act_fns = {a: keras.activations.get(a) for a in kinds.activations}
        self._compiled = {
            "epoch": self._epoch_function(shared=False, xla=xla),
            "epoch_shared": self._epoch_function(shared=True, xla=xla),
            "evaluate": tf.function(self._evaluate_sums, reduce_retracing=True, autograph=False),
        }

    def _epoch_function(self, *, shared: bool, xla: bool) -> tuple[Any, Any | None]:
        """The compiled epoch for this size and these kinds: the full batches (XLA when
        ``xla``), then the partial batch, if any, as a plain graph: compiled into the
        loop's XLA program it was a second copy of the step, 1.5-2 s more to compile at
        every new size, for one step an epoch."""
        tf = self._tf
        k = self.size
        signature = [
            tf.TensorSpec(self.tensors.x_train.shape, tf.float32),
            tf.TensorSpec(self.tensors.y_train.shape, tf.int32),
            tf.TensorSpec([1 if shared else k, self.num_train], tf.int32),
            tf.TensorSpec([k], tf.bool),
        ]
        epoch, tail = make_epoch(
            tf,
            self.losses_and_grads,
            self.apply,
            batch=self.batch,
            examples=self.num_train,
            shared=shared,
        )
        return (
            tf.function(epoch, input_signature=signature, jit_compile=xla, autograph=False),
            None if tail is None else tf.function(tail, autograph=False),
        )

    def train_epoch(self, order: np.ndarray, active: np.ndarray) -> tuple[Any, ...]:
        """One epoch of training in the given ``order`` (``(1, examples)``: one order
        shared by every member; ``(K, examples)``: one per slot) of the ``active`` slots:
        the compiled epoch's sums per slot (:func:`trainer.epoch.make_epoch`)."""
        tf = self._tf
        loop, tail = self._compiled["epoch_shared" if len(order) == 1 else "epoch"]
        order_t = tf.constant(order)
        x, y = self.tensors.x_train, self.tensors.y_train
        outs = loop(x, y, order_t, tf.constant(active))
        return outs if tail is None else tail(x, y, order_t, outs)

    def _mask(self, name: tuple[str, Any], rank: int) -> Any:
        return self._tf.reshape(self._masks[name], [-1] + [1] * (rank - 1))

    # -- model -----------------------------------------------------------------------

    def _forward(self, x: Any) -> tuple[Any, list[Any], Any]:
        """The first layer's pre-activation, the hidden activations ``[(K, n, units)]``
        and the logits ``(K, n, classes)``.

        ``x`` is ``(n, features)`` (the same examples for every member) or
        ``(K, n, features)`` (each member's own batch).
        """
        tf = self._tf
        hidden: list[Any] = []
        first = None
        h = x[None] if len(x.shape) == 2 else x
        last = len(self.kernels) - 1
        one = self.size == 1  # a plain matmul: cheaper than a batched one of batch 1
        for layer, (w, b) in enumerate(zip(self.kernels, self.biases, strict=True)):
            if one:  # squeeze, not slice: its gradient is a reshape, not a scatter
                z = tf.expand_dims(tf.matmul(tf.squeeze(h, 0), tf.squeeze(w, 0)) + b[0], 0)
            elif layer == 0 and len(x.shape) == 2:
                z = _shared_matmul(tf, x, w) + tf.expand_dims(b, 1)
            else:
                z = tf.matmul(h, w) + tf.expand_dims(b, 1)
            if layer == 0:
                first = z
            if layer == last:
                return first, hidden, z
            h = self._activate(z)
            hidden.append(h)
        raise AssertionError("unreachable")

    def _select(self, kind: str, names: Sequence[Any], compute: Callable[[Any], Any]) -> Any:
        """``compute(name)`` for each compiled choice, each slot taking its own."""
        tf = self._tf
        out = compute(names[-1])
        for name in names[:-1]:
            value = compute(name)
            out = tf.where(self._mask((kind, name), len(value.shape)), value, out)
        return out

    def _activate(self, z: Any) -> Any:
        assert self.kinds is not None
        return self._select("activation", self.kinds.activations, lambda a: self._act_fns[a](z))

    def _per_member(self, logits: Any, labels: Any, reduce: Callable[..., Any]) -> Any:
        """``reduce`` over examples of each member's per-example loss: ``(K,)``."""
        tf = self._tf
        assert self.kinds is not None
        onehot = tf.one_hot(labels, self.num_classes, dtype=logits.dtype)
        target = tf.broadcast_to(onehot, tf.shape(logits))

        def one(pair: tuple[str, str]) -> Any:
            return reduce(per_example_loss(pair[0], pair[1], logits, target), axis=-1)

        return self._select("loss", self.kinds.losses, one)

    def losses_and_grads(self, x: Any, y: Any) -> tuple[Any, Any, list[Any], Any]:
        """Logits, mean loss per member, gradients and gradient norm per member."""
        tf = self._tf
        with tf.GradientTape() as tape:
            first, _, logits = self._forward(x)
            losses = self._per_member(logits, y, tf.reduce_mean)
        gram = self._gram_pays(x)
        # d(sum of losses): per member; with the first layer's output gradient for Gram
        grads = tape.gradient(losses, [*self.variables, first] if gram else self.variables)

        def square(g: Any) -> Any:
            return tf.reduce_sum(tf.square(g), axis=list(range(1, len(g.shape))))

        if gram:
            squares = [_gram_square(tf, x, grads.pop()), *map(square, grads[1:])]
        else:
            squares = [square(g) for g in grads]
        g_norm = tf.sqrt(tf.add_n(squares))
        return logits, losses, grads, g_norm

    def _gram_pays(self, x: Any) -> bool:
        """Whether the first kernel's squared gradient norm is cheaper from Gram matrices
        (:func:`_gram_square`) than from a pass over the gradient, counting a pass as
        :data:`_GRAM_FACTOR` flops per element: small batches, shared ones above all."""
        k, (fan_in, units) = self.size, self.sizes[:2]
        batch = int(x.shape[-2])
        shared = len(x.shape) == 2
        flops = batch * batch * (fan_in + k * units if shared else k * (fan_in + units))
        return flops < _GRAM_FACTOR * k * fan_in * units

    # -- the optimizer step --------------------------------------------------------------

    def apply(self, grads: Sequence[Any], finite: Any) -> None:
        """One optimizer step of the members whose batch was ``finite``
        (:mod:`trainer.optimizers`, each slot taking its own optimizer's update); the
        others do not move."""
        tf = self._tf
        assert self.kinds is not None
        kinds = self.kinds.optimizers
        zero = tf.zeros_like(self._lr)
        lr_now = tf.where(finite, self._lr, zero)  # one read per step
        alpha = None
        if "adam" in kinds:  # counts the steps a member applied, as Keras
            count = self._iterations + tf.cast(finite, tf.int64)
            self._iterations.assign(count)
            alpha = adam_step_size(tf, lr_now, count)
        momentum = tf.where(finite, self._momentum, zero)
        masked = bool(MASKED_GRADIENT.intersection(kinds))
        for vi, (var, g) in enumerate(zip(self.variables, grads, strict=True)):
            rank = len(g.shape)
            shape = [-1] + [1] * (rank - 1)
            inputs = StepInputs(
                g=g,
                g_in=(
                    tf.math.multiply_no_nan(g, tf.reshape(tf.cast(finite, g.dtype), shape))
                    if masked
                    else None
                ),
                m=self._m[vi],
                v=self._v[vi],
                lr=tf.reshape(lr_now, shape),
                momentum=tf.reshape(momentum, shape),
                alpha=None if alpha is None else tf.reshape(alpha, shape),
            )
            updates = {kind: UPDATES[kind](tf, inputs) for kind in kinds}
            for slot_var, part in ((self._m[vi], "m"), (self._v[vi], "v")):
                new = {k: getattr(u, part) for k, u in updates.items()}
                new = {k: value for k, value in new.items() if value is not None}
                if new:
                    slot_var.assign(self._pick(new, rank, fallback=slot_var))
            var.assign_sub(self._pick({k: u.step for k, u in updates.items()}, rank))

    def _pick(self, values: dict[str, Any], rank: int, fallback: Any = None) -> Any:
        """Each slot's value from its optimizer kind's entry in ``values``."""
        tf = self._tf
        assert self.kinds is not None
        names = list(values)
        if fallback is None or len(names) == len(self.kinds.optimizers):
            out = values[names[-1]]
            names = names[:-1]
        else:
            out = fallback
        for name in names:
            out = tf.where(self._mask(("optimizer", name), rank), values[name], out)
        return out

    # -- evaluation and signals --------------------------------------------------------

    def _evaluate_sums(self, x: Any, y: Any) -> Any:
        tf = self._tf
        _, _, logits = self._forward(x)
        loss_sum = self._per_member(logits, y, tf.reduce_sum)
        pred = tf.argmax(logits, -1, output_type=tf.int32)
        hits = tf.reduce_sum(tf.cast(tf.equal(pred, y[None, :]), tf.float32), axis=-1)
        return loss_sum, hits

    def evaluate(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """Mean loss and accuracy of every slot on ``(x, y)`` (tensors), in chunks of
        examples."""
        n = int(x.shape[0])
        chunk = max(1, _EVAL_FLOATS // (self.size * self.width))
        loss_sum = np.zeros(self.size)
        hit_sum = np.zeros(self.size)
        for s in range(0, n, chunk):
            whole = s == 0 and chunk >= n
            xs, ys = (x, y) if whole else (x[s : s + chunk], y[s : s + chunk])
            loss, hits = self._compiled["evaluate"](xs, ys)
            loss_sum += loss.numpy()
            hit_sum += hits.numpy()
        return loss_sum / n, hit_sum / n

    def unit_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Per slot, on the probe batch: the hidden units never active (dead ReLUs) and
        those pinned at a bound of their activation (:mod:`trainer.signals`). Eager: a
        trace at every new size cost more than the call."""
        tf = self._tf
        _, hidden, _ = self._forward(self.tensors.probe_x)
        dead = tf.zeros_like(self._lr)
        pinned = tf.zeros_like(self._lr)
        for h in hidden:
            never = tf.reduce_all(h <= 0.0, axis=1)
            dead += tf.reduce_sum(tf.cast(never, tf.float32), axis=1)
            near = tf.logical_or(h <= self._near_low, h >= self._near_high)
            share = tf.reduce_mean(tf.cast(near, tf.float32), axis=1)
            pinned += tf.reduce_sum(tf.cast(share >= PINNED_SHARE, tf.float32), axis=1)
        return dead.numpy(), pinned.numpy()

    def probe_losses(self) -> tuple[np.ndarray, np.ndarray]:
        """Loss and gradient norm of every slot on the probe batch, as it is now (NaN
        without a probe batch). Eager, as :meth:`unit_counts`."""
        if not int(self.tensors.probe_x.shape[0]):
            nan = np.full(self.size, np.nan)
            return nan, nan
        _, losses, _, g_norm = self.losses_and_grads(self.tensors.probe_x, self.tensors.probe_y)
        return losses.numpy(), g_norm.numpy()


def _gram_square(tf: Any, x: Any, dz: Any) -> Any:
    """Each member's squared norm of the kernel gradient ``x^T dz`` without forming it:
    ``sum((x x^T) * (dz dz^T))``, ``x`` ``(n, fan_in)`` or ``(K, n, fan_in)``, ``dz``
    ``(K, n, units)``. The gradient is as large as the kernels, and a pass over it cost
    as much as the rest of a batch-10 step under XLA (benchmarks/README.md)."""
    xx = tf.matmul(x, x, transpose_b=True)
    dd = tf.matmul(dz, dz, transpose_b=True)
    return tf.reduce_sum(dd * xx, axis=[1, 2])


def _shared_matmul(tf: Any, x: Any, w: Any) -> Any:
    """``x @ w[k]`` for every member ``k``, ``x`` ``(n, fan_in)`` shared by all and ``w``
    ``(K, fan_in, units)``: one ``(n, fan_in) @ (fan_in, K * units)`` matmul on the
    members' kernels side by side, ``(K, n, units)`` out.

    A batched matmul that broadcasts ``x`` runs K small products (and K small ones for
    the kernel gradient); one wide product runs 2.5-3x faster on CPU although the kernels
    are transposed into it and the gradient back (benchmarks/README.md).
    """
    k, fan_in, units = w.shape
    wide = tf.reshape(tf.transpose(w, [1, 0, 2]), [fan_in, k * units])
    return tf.transpose(tf.reshape(tf.matmul(x, wide), [-1, k, units]), [1, 0, 2])


def _near(config: TrainConfig) -> tuple[float, float]:
    """Where a unit of ``config``'s activation counts as at its low / high bound."""
    low, high = (0.0, 1.0) if config.activation == "sigmoid" else (-1.0, 1.0)
    margin = SATURATION_MARGIN * (high - low)
    return low + margin, high - margin


def _has_choice(name: tuple[str, Any]) -> Callable[[TrainConfig], bool]:
    """A new member's row of the mask ``name`` (:meth:`Kinds.mask_names`)."""
    choices = {
        "activation": lambda c: c.activation,
        "loss": lambda c: (c.loss, c.output_activation),
        "optimizer": lambda c: c.optimizer,
    }[name[0]]
    return lambda config: choices(config) == name[1]
