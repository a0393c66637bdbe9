"""Train a *population*: up to K configs side by side as one vectorised model, in slots.

For small MLPs a training step costs almost nothing but per-step overhead (op dispatch,
the loop, bookkeeping). Training K trials at once shares that overhead: every layer
holds a ``(K, in, out)`` kernel and a ``(K, out)`` bias and is one batched matmul.

**Slots.** A :class:`Population` has ``capacity`` slots. A member (one config) is put
into a free slot at an epoch boundary (:meth:`Population.add`: its slice of the weights
is initialised exactly as the Keras model of ``train(config)``, its optimizer state is
zeroed) and frees it at the end of the epoch in which it completes, diverges or is
stopped (:meth:`Population.run_epoch` returns its :class:`TrainResult`). A free slot
holds zero weights and a zero learning rate: it computes, but nothing in it moves.
A *resizable* population (the sweeps' and :func:`train_population`'s) has no free slot
for long: at the next epoch boundary it grows to hold every member added, or drops its
free slots once an epoch of them would cost more than a new size does (the live members
move up with their state; the compiled functions are retraced for the new size).

**Independent members.** Each member keeps its own epoch counter and draws its own batch
order from its own seed, exactly the permutation ``train(config)`` draws
(``np.random.default_rng(seed).permutation`` per epoch); a step gathers a
``(K, batch, features)`` block, one batch per member. Every op is per member, so a
member's trajectory does not depend on its slot or its neighbours: it is the trajectory
of ``train(config)`` (a population of one), up to floating-point rounding, and the
optimizer formulas below are checked against Keras' ``fit`` in tests/trainer. Members must share
:func:`shape_key` (architecture, batch size, data, validation split), which fixes the
shapes and the number of steps per epoch; learning rate, initialisation, activation,
output activation, loss, optimizer, momentum, seed and epochs may differ.

**Per-member choices.** Activations, (loss, output) pairs and optimizer kinds present in
the population are each computed over all slots and selected per slot with ``tf.where``
(exact, and free of gathers); with one kind there is no selection at all. A kind that is
not compiled in yet rebuilds the compiled functions once (a retrace).

**Divergence.** The loop checks per member that the batch loss and gradient norm are
finite. A member that fails is out from that batch on, exactly where the single engine
stops: every update is masked by that check (the member's learning rate is taken as zero
and ``multiply_no_nan`` keeps its non-finite gradient out), so its weights stay those
from before that batch; its :class:`~trainer.outcome.Divergence` is recorded the same
way.
"""

from __future__ import annotations

import functools
import itertools
import time
import weakref
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer._tf import tf_keras
from trainer.config import OPTIMIZERS, SHAPE_FIELDS, TrainConfig
from trainer.data import Dataset, load_dataset, train_validation_split
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
    "MEMBER_FIELDS",
    "SHAPE_FIELDS",
    "Population",
    "PopulationCallback",
    "PopulationPreflight",
    "shape_key",
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
    "seed",
    "epochs",
)
"""Fields the members of one population may differ in."""

PopulationCallback = Callable[[Any, EpochRecord], bool | None]
"""``(member key, record)`` after each epoch of a member still training; ``True`` stops it."""

PopulationPreflight = Callable[[Any, tuple[PreflightWarning, ...]], None]
"""``(member key, warnings)`` once per member, before its first step."""

PopulationRecords = Callable[[list[tuple[Any, EpochRecord]]], None]
"""``[(member key, record), ...]`` of every member still training, once per epoch and
before any :data:`PopulationCallback` decides: a decision may compare the members."""

# Keras 3 defaults of keras.optimizers.Adam / RMSprop (trainer.model.build_optimizer).
_ADAM_BETA_1 = 0.9
_ADAM_BETA_2 = 0.999
_RMSPROP_RHO = 0.9
_EPSILON = 1e-7
_XLA_MAX_SIZE = 32
"""Populations up to this size compile their epoch with XLA (``jit_compile``): it fuses the
step's many small elementwise ops, 1.3-2.8x faster per epoch on 2 CPU cores at K = 1..32;
at K = 64 the step is bound by memory traffic over the kernels and XLA was slower (0.8x)."""
_XLA_MIN_EXAMPLES = 100_000
"""...and when a member trains on at least this many examples (training set x epochs):
compiling costs 1-4 s more than tracing, which two epochs of full MNIST repay but the
few seconds of a run on mnist-mini do not."""
_RETRACE_SECONDS = 0.7
_COMPILE_SECONDS = 2.5
"""What a new size of a population costs (new variables, the compiled functions traced
again; XLA compiling the epoch: the second figure, 1.6-2.7 s at batch 10-128, K = 12-18),
measured on 2 CPU cores: a resizable population drops its free slots when they would
cost more than this over the epochs its members have left."""
_GRAM_FACTOR = 50
"""A pass over a gradient counted as this many flops per element (memory-bound, against
the Gram matrices' matmuls), measured at K = 1..22, batch 10..128, on 2 CPU cores."""
_EVAL_FLOATS = 1 << 23
"""Evaluation runs over chunks of examples so that K * chunk * layer width stays below this."""


def shape_key(config: TrainConfig) -> tuple[Any, ...]:
    """What the members of one population must have in common (:data:`SHAPE_FIELDS`)."""
    return tuple(getattr(config, name) for name in SHAPE_FIELDS)


@dataclass(frozen=True)
class _Kinds:
    """The per-member choices compiled into a population's graph (sorted, static)."""

    activations: tuple[str, ...]
    losses: tuple[tuple[str, str], ...]
    optimizers: tuple[str, ...]

    def covers(self, config: TrainConfig) -> bool:
        return (
            config.activation in self.activations
            and (config.loss, config.output_activation) in self.losses
            and config.optimizer in self.optimizers
        )

    def with_config(self, config: TrainConfig) -> _Kinds:
        return _Kinds(
            tuple(sorted({*self.activations, config.activation})),
            tuple(sorted({*self.losses, (config.loss, config.output_activation)})),
            tuple(o for o in OPTIMIZERS if o in {*self.optimizers, config.optimizer}),
        )


@dataclass(eq=False)
class _Member:
    """One config in a slot, and what its run has produced so far."""

    key: Any
    config: TrainConfig
    rng: np.random.Generator
    started: float
    epoch: int = 0
    history: list[EpochRecord] = field(default_factory=list)
    divergence: Divergence | None = None
    last_batch_loss: float | None = None
    stopped: bool = False
    initial_loss: float = float("nan")
    initial_grad: float = float("nan")
    warnings: tuple[PreflightWarning, ...] = ()
    fresh: bool = True  # not measured on the probe yet

    @property
    def epochs_left(self) -> int:
        return self.config.epochs - self.epoch


class Population:
    """``capacity`` slots over one data split; members come and go at epoch boundaries.

    ``template`` fixes the shape (:func:`shape_key`); ``dataset`` overrides its dataset
    (already loaded data). ``keep_models`` puts a Keras model with the member's final
    weights on each result. ``jit``: see :attr:`jit`.
    """

    def __init__(
        self,
        template: TrainConfig,
        capacity: int,
        *,
        dataset: Dataset | None = None,
        keep_models: bool = False,
        resizable: bool = False,
        jit: bool | None = None,
    ) -> None:
        tf, _ = tf_keras()
        self.jit = jit
        """Compile the epoch with XLA (at most :data:`_XLA_MAX_SIZE` slots); ``None``:
        when the members train long enough to repay the compile (:data:`_XLA_MIN_EXAMPLES`)."""
        self._tf = tf
        if capacity < 1:
            raise ValueError("a population needs at least one slot")
        self.shape = shape_key(template)
        self.template = template
        self.size = capacity
        self.resizable = resizable
        self.retrace_seconds: float | None = None
        """A resizable population drops its free slots when they cost more than this over
        the epochs its members have left (``None``: what compiling the new size is
        measured to cost, :meth:`_retrace_cost`)."""
        self._epoch_seconds = 0.0  # the last epoch's (training and validation)
        self.keep_models = keep_models
        data = dataset if dataset is not None else load_dataset(template.dataset)
        self.data = data
        x_tr, _, x_val, _ = _split(data, template)  # checks the batch size fits
        self.num_train, self.num_validation = len(x_tr), len(x_val)
        self.num_features, self.num_classes = data.num_features, data.num_classes
        self._chance = _chance_accuracy(data.y_test, self.num_classes)
        n_probe = min(PROBE_SIZE, len(x_tr))
        self._xt, self._yt, self._val, self._test, self._probe_x, self._probe_y = _tensors(
            tf, data, template.validation_split, n_probe
        )
        self._sizes = [self.num_features, *template.hidden_layers, self.num_classes]
        self.width = max(self._sizes[1:])
        self.hidden_units = int(sum(template.hidden_layers))
        self._units_apply = bool(self.hidden_units and n_probe)
        self._batch = template.batch_size
        self.members: list[_Member | None] = [None] * capacity
        self._init_cache: dict[tuple[Any, ...], np.ndarray] = {}
        # every per-slot variable by name: its row for an empty slot, for a new member
        self._specs: dict[Any, _Rows] = {}
        self._vars: dict[Any, Any] = {}
        for layer, (fan_in, units) in enumerate(itertools.pairwise(self._sizes)):
            for part, shape in (("kernel", (fan_in, units)), ("bias", (units,))):
                init = functools.partial(
                    _initial, layer=layer, bias=part == "bias", shape=shape, cache=self._init_cache
                )
                self._slots((part, layer), np.zeros(shape, np.float32), init, trainable=True)
        for i, key in enumerate(list(self._specs)):  # kernel 0, bias 0, kernel 1, ...
            for slot_kind in ("m", "v"):
                self._slots((slot_kind, i), self._specs[key].empty)
        self._slots("iterations", np.zeros((), np.int64))
        self._slots("lr", np.zeros((), np.float32), lambda c: c.learning_rate)
        self._slots("momentum", np.zeros((), np.float32), lambda c: c.momentum)
        self._slots("near_low", np.full((1, 1), -1.0, np.float32), lambda c: _near(c)[0])
        self._slots("near_high", np.full((1, 1), 1.0, np.float32), lambda c: _near(c)[1])
        self._bind()
        self._kinds: _Kinds | None = None
        self._compiled: dict[str, Any] = {}
        self._pending: dict[int, TrainConfig | None] = {}  # slot -> new member / None: freed

    def _bind(self) -> None:
        """Name the variables for the model and optimizer code (after (re)creation)."""
        v = self._vars
        layers = len(self._sizes) - 1
        self.kernels = [v[("kernel", i)] for i in range(layers)]
        self.biases = [v[("bias", i)] for i in range(layers)]
        self.variables = [x for pair in zip(self.kernels, self.biases, strict=True) for x in pair]
        self._m = [v[("m", i)] for i in range(2 * layers)]
        self._v = [v[("v", i)] for i in range(2 * layers)]
        self._iterations, self._lr, self._momentum = v["iterations"], v["lr"], v["momentum"]
        self._near_low, self._near_high = v["near_low"], v["near_high"]
        self._masks = {key[1]: var for key, var in v.items() if key[0] == "mask"}

    # -- slots -----------------------------------------------------------------------

    def _slots(
        self,
        key: Any,
        empty: np.ndarray,
        init: Callable[[TrainConfig], Any] | None = None,
        *,
        trainable: bool = False,
    ) -> None:
        """Create the variable ``key`` with one row per slot, each ``empty``; a new
        member's row is ``init(config)`` (default: ``empty``)."""
        self._specs[key] = _Rows(empty, init or (lambda _: empty), trainable)
        value = np.broadcast_to(empty, (self.size, *empty.shape)).copy()
        self._vars[key] = self._tf.Variable(value, trainable=trainable, name=_var_name(key))

    @property
    def free(self) -> int:
        """Free slots (a resizable population grows instead of running out)."""
        return sum(m is None for m in self.members)

    @property
    def live(self) -> int:
        return sum(m is not None for m in self.members)

    def add(self, config: TrainConfig, key: Hashable | None = None) -> int:
        """Put ``config`` into a free slot (call between epochs); returns the slot.

        ``key`` names the member in callbacks and results (default: the slot).
        """
        if shape_key(config) != self.shape:
            diff = ", ".join(
                f"{name}={b!r} (population has {a!r})"
                for name, a, b in zip(SHAPE_FIELDS, self.shape, shape_key(config), strict=True)
                if a != b
            )
            raise ValueError(
                f"config does not fit this population: {diff}; members may differ only in "
                f"{', '.join(MEMBER_FIELDS)}"
            )
        if self.resizable and None not in self.members:
            self.members.append(None)  # a new row at the next flush
        slot = self.members.index(None)  # ValueError when full
        if self._kinds is None or not self._kinds.covers(config):
            kinds = self._kinds or _Kinds((), (), ())
            self._set_kinds(kinds.with_config(config))
        self._pending[slot] = config
        self.members[slot] = _Member(
            key=slot if key is None else key,
            config=config,
            rng=np.random.default_rng(config.seed),
            started=time.perf_counter(),
        )
        return slot

    def _member(self, slot: int) -> _Member:
        member = self.members[slot]
        assert member is not None, f"slot {slot} is free"
        return member

    def _release(self, slot: int) -> None:
        """Free ``slot``: zero weights and learning rate (at the next :meth:`flush`), so
        nothing in it moves."""
        self._pending[slot] = None
        self.members[slot] = None

    def flush(self) -> None:
        """Write the slots filled or freed since the last flush into the variables, each
        variable once (:meth:`run_epoch` starts with it): a member's initial weights
        (exactly the Keras model's), zero optimizer state and step count, its learning
        rate, momentum and choices; an empty row for a freed slot.

        A resizable population also fits its size to its members here: when they do not
        fit, or when its free slots would cost more than a new size
        (:attr:`retrace_seconds`) over the epochs its members have left (measured: the
        last epoch's time per slot), the live members move up (their state with them) and
        the size becomes their number. A free slot costs a whole member's compute at
        every step.
        """
        if not self._pending:
            return
        pending = self._pending
        self._pending = {}
        if len(self._init_cache) > 256:
            self._init_cache.clear()
        layout = list(range(len(self.members)))  # new row i <- old slot layout[i]
        if self.resizable:
            live = [j for j, m in enumerate(self.members) if m is not None]
            left = max((self._member(j).epochs_left for j in live), default=0)
            wasted = (self.size - len(live)) * self._epoch_seconds / self.size * left
            if len(live) > self.size or (live and wasted > self._retrace_cost(len(live))):
                layout = live
        resized = len(layout) != self.size
        for key, rows in self._specs.items():
            var = self._vars[key]
            old = var.numpy()
            new = np.empty((len(layout), *old.shape[1:]), old.dtype) if resized else old
            for i, j in enumerate(layout):
                config = pending.get(j)
                if config is not None:
                    new[i] = rows.init(config)
                elif j in pending:  # a slot freed
                    new[i] = rows.empty
                elif resized:
                    new[i] = old[j]
            if resized:
                self._vars[key] = self._tf.Variable(
                    new, trainable=rows.trainable, name=_var_name(key)
                )
            else:
                var.assign(new)
        self.members = [self.members[j] for j in layout]
        if resized:
            self.size = len(layout)
            self._bind()
            assert self._kinds is not None
            self._set_kinds(self._kinds)  # retrace for the new shapes

    def _retrace_cost(self, size: int) -> float:
        if self.retrace_seconds is not None:
            return self.retrace_seconds
        return _COMPILE_SECONDS if self._xla(size) else _RETRACE_SECONDS

    def _set_kinds(self, kinds: _Kinds) -> None:
        """Compile the population for ``kinds`` (a retrace); existing masks are kept."""
        tf, keras = tf_keras()
        names = [
            *(("activation", a) for a in kinds.activations),
            *(("loss", pair) for pair in kinds.losses),
            *(("optimizer", o) for o in kinds.optimizers),
        ]
        for name in names:
            if ("mask", name) not in self._specs:
                self._slots(("mask", name), np.zeros((), bool), _has_choice(name))
        self._bind()
        self._kinds = kinds
        self._act_fns = {a: keras.activations.get(a) for a in kinds.activations}
        self._compiled = {
            "epoch": self._epoch_function(shared=False),
            "epoch_shared": self._epoch_function(shared=True),
            "evaluate": tf.function(self._evaluate_sums, reduce_retracing=True, autograph=False),
        }

    def _epoch_function(self, *, shared: bool) -> tuple[Any, Any | None]:
        """The compiled epoch for this size and these kinds, traced on their first call:
        the full batches (XLA up to :data:`_XLA_MAX_SIZE` members), then the partial
        batch, if any, as a plain graph: compiled into the loop's XLA program it was a
        second copy of the step, 1.5-2 s more to compile at every new size, for one step
        an epoch."""
        tf = self._tf
        k = self.size
        signature = [
            tf.TensorSpec(self._xt.shape, tf.float32),
            tf.TensorSpec(self._yt.shape, tf.int32),
            tf.TensorSpec([1 if shared else k, self.num_train], tf.int32),
        ]
        epoch, tail = self._make_epoch(self._batch, self.num_train, shared=shared)
        return (
            tf.function(
                epoch,
                input_signature=[*signature, tf.TensorSpec([k], tf.bool)],
                jit_compile=self._xla(),
                autograph=False,
            ),
            None if tail is None else tf.function(tail, autograph=False),
        )

    def _xla(self, size: int | None = None) -> bool:
        """Whether the epoch of ``size`` slots (default: now) is compiled with XLA."""
        if (self.size if size is None else size) > _XLA_MAX_SIZE:
            return False
        if self.jit is not None:
            return self.jit
        configs = [self.template, *(m.config for m in self.members if m is not None)]
        return self.num_train * max(c.epochs for c in configs) >= _XLA_MIN_EXAMPLES

    def _mask(self, name: tuple[str, Any], rank: int) -> Any:
        return self._tf.reshape(self._masks[name], [-1] + [1] * (rank - 1))

    # -- model -----------------------------------------------------------------------

    def _hidden_and_logits(self, x: Any) -> tuple[list[Any], Any]:
        """Hidden activations ``[(K, n, units)]`` and logits ``(K, n, classes)``.

        ``x`` is ``(n, features)`` (the same examples for every member) or
        ``(K, n, features)`` (each member's own batch).
        """
        _, hidden, logits = self._forward(x)
        return hidden, logits

    def _forward(self, x: Any) -> tuple[Any, list[Any], Any]:
        """The first layer's pre-activation, then as :meth:`_hidden_and_logits`."""
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
        assert self._kinds is not None
        return self._select("activation", self._kinds.activations, lambda a: self._act_fns[a](z))

    def _per_member(self, logits: Any, labels: Any, reduce: Callable[..., Any]) -> Any:
        """``reduce`` over examples of each member's per-example loss: ``(K,)``."""
        tf = self._tf
        assert self._kinds is not None
        onehot = tf.one_hot(labels, self.num_classes, dtype=logits.dtype)
        target = tf.broadcast_to(onehot, tf.shape(logits))

        def one(pair: tuple[str, str]) -> Any:
            return reduce(per_example_loss(pair[0], pair[1], logits, target), axis=-1)

        return self._select("loss", self._kinds.losses, one)

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
        k, (fan_in, units) = self.size, self._sizes[:2]
        batch = int(x.shape[-2])
        shared = len(x.shape) == 2
        flops = batch * batch * (fan_in + k * units if shared else k * (fan_in + units))
        return flops < _GRAM_FACTOR * k * fan_in * units

    # -- optimizers: the Keras 3 update_step formulas, vectorised over members ---------

    def _apply(self, grads: Sequence[Any], finite: Any) -> None:
        """One optimizer step of the members whose batch was ``finite``; the others do
        not move: their learning rate (Adam's step size, momentum) is taken as zero and
        ``multiply_no_nan`` keeps a non-finite gradient out of every product."""
        tf = self._tf
        assert self._kinds is not None
        kinds = self._kinds.optimizers
        zero = tf.zeros_like(self._lr)
        lr_now = tf.where(finite, self._lr, zero)  # one read per step
        alpha = None
        if "adam" in kinds:  # counts the steps a member applied, as Keras
            count = self._iterations + tf.cast(finite, tf.int64)
            self._iterations.assign(count)
            local_step = tf.cast(tf.maximum(count, 1), tf.float32)  # Keras: iterations + 1
            beta_1_power = tf.pow(tf.constant(_ADAM_BETA_1, tf.float32), local_step)
            beta_2_power = tf.pow(tf.constant(_ADAM_BETA_2, tf.float32), local_step)
            alpha = lr_now * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        momentum = tf.where(finite, self._momentum, zero)
        for vi, (var, g) in enumerate(zip(self.variables, grads, strict=True)):
            rank = len(g.shape)
            shape = [-1] + [1] * (rank - 1)
            lr = tf.reshape(lr_now, shape)
            m, v = self._m[vi], self._v[vi]
            steps: dict[str, Any] = {}
            m_new: dict[str, Any] = {}
            v_new: dict[str, Any] = {}
            if "adam" in kinds or "rmsprop" in kinds:  # their slots take g itself
                g_in = tf.math.multiply_no_nan(g, tf.reshape(tf.cast(finite, g.dtype), shape))
            for kind in kinds:
                if kind == "sgd":  # SGD: variable -= gradient * lr
                    steps[kind] = tf.math.multiply_no_nan(g, lr)
                elif kind == "momentum":  # m = m * momentum - gradient * lr; var += m
                    m_new[kind] = tf.math.multiply_no_nan(
                        m, tf.reshape(momentum, shape)
                    ) - tf.math.multiply_no_nan(g, lr)
                    steps[kind] = -m_new[kind]  # var - (-m) == var + m exactly
                elif kind == "adam":
                    m_new[kind] = m + (g_in - m) * (1 - _ADAM_BETA_1)
                    v_new[kind] = v + (tf.square(g_in) - v) * (1 - _ADAM_BETA_2)
                    a = tf.reshape(alpha, shape)
                    steps[kind] = (m_new[kind] * a) / (tf.sqrt(v_new[kind]) + _EPSILON)
                else:  # rmsprop (rho 0.9, no momentum, not centered)
                    v_new[kind] = _RMSPROP_RHO * v + (1 - _RMSPROP_RHO) * tf.square(g_in)
                    steps[kind] = (lr * g_in) / tf.sqrt(v_new[kind] + _EPSILON)
            for slot_var, new in ((m, m_new), (v, v_new)):
                if new:
                    slot_var.assign(self._pick(new, rank, fallback=slot_var))
            var.assign_sub(self._pick(steps, rank))

    def _pick(self, values: dict[str, Any], rank: int, fallback: Any = None) -> Any:
        """Each slot's value from its optimizer kind's entry in ``values``."""
        tf = self._tf
        names = list(values)
        if fallback is None or len(names) == len(self._kinds.optimizers):  # type: ignore[union-attr]
            out = values[names[-1]]
            names = names[:-1]
        else:
            out = fallback
        for name in names:
            out = tf.where(self._mask(("optimizer", name), rank), values[name], out)
        return out

    # -- compiled epoch ----------------------------------------------------------------

    def _make_epoch(
        self, batch: int, examples: int, *, shared: bool
    ) -> tuple[Callable[..., Any], Callable[..., Any] | None]:
        """The epoch: each member its own order of ``examples`` examples (``order`` is
        ``(K, examples)``), or, ``shared``, one order for every member (``order`` is
        ``(1, examples)``: one ``(batch, features)`` block per step, which the batched
        matmul broadcasts; ~2x faster at K=64 than K gathered batches).

        Shapes are static: the full batches run in a ``tf.while_loop`` (the first
        function), the last, partial one (if any) once after it (the second, taking the
        first's state), so every shape computation folds away at trace time.
        """
        tf = self._tf
        full, rest = divmod(examples, batch)
        rows = 1 if shared else -1  # -1: every slot (the population may be resized)

        def take(a: Any, idx: Any) -> Any:
            return tf.gather(a, tf.reshape(idx, [-1]) if shared else idx)

        def step(xb: Any, yb: Any, state: tuple[Any, ...]) -> tuple[Any, ...]:
            live, batches, loss_sum, correct, seen, g_sum, g_max, last, bad_loss, bad_grad = state
            logits, losses, grads, g_norm = self.losses_and_grads(xb, yb)
            ok = tf.logical_and(tf.math.is_finite(losses), tf.math.is_finite(g_norm))
            finite = tf.logical_and(live, ok)
            bad = tf.logical_and(live, tf.logical_not(ok))
            self._apply(grads, finite)  # a member that is out does not move (module doc)
            pred = tf.argmax(logits, -1, output_type=tf.int32)
            hits = tf.reduce_sum(
                tf.cast(tf.equal(pred, yb[None] if shared else yb), tf.float32), axis=-1
            )
            count = float(yb.shape[-1])
            sums = (loss_sum, correct, seen, g_sum, g_max, last)
            return (
                finite,
                batches + tf.cast(live, tf.int32),
                *_accumulate(tf, finite, sums, losses, count, hits, g_norm),
                tf.where(bad, losses, bad_loss),
                tf.where(bad, g_norm, bad_grad),
            )

        def epoch(x: Any, y: Any, order: Any, active: Any) -> Any:
            k = tf.shape(active)
            zeros = tf.zeros(k, tf.float32)
            state = (
                active,
                tf.zeros(k, tf.int32),
                zeros,
                zeros,
                zeros,
                zeros,
                zeros,
                tf.fill(k, float("nan")),
                zeros,
                zeros,
            )

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

    # -- evaluation and signals --------------------------------------------------------

    def _evaluate_sums(self, x: Any, y: Any) -> Any:
        tf = self._tf
        _, logits = self._hidden_and_logits(x)
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

    def _unit_counts(self, x: Any) -> Any:
        tf = self._tf
        hidden, _ = self._hidden_and_logits(x)
        dead = tf.zeros_like(self._lr)
        pinned = tf.zeros_like(self._lr)
        for h in hidden:
            never = tf.reduce_all(h <= 0.0, axis=1)
            dead += tf.reduce_sum(tf.cast(never, tf.float32), axis=1)
            near = tf.logical_or(h <= self._near_low, h >= self._near_high)
            share = tf.reduce_mean(tf.cast(near, tf.float32), axis=1)
            pinned += tf.reduce_sum(tf.cast(share >= PINNED_SHARE, tf.float32), axis=1)
        return dead, pinned

    def _units(self) -> tuple[list[float | None], list[float | None]]:
        """Dead and saturated shares of each slot's hidden units (trainer.signals)."""
        none: list[float | None] = [None] * self.size
        wanted = [
            m is not None
            and self._units_apply
            and (m.config.activation in DEAD_ACTIVATIONS + SATURATING_ACTIVATIONS)
            for m in self.members
        ]
        if not any(wanted):
            return none, list(none)
        dead, pinned = (v.numpy() for v in self._unit_counts(self._probe_x))
        total = float(self.hidden_units)
        dead_out, pinned_out = list(none), list(none)
        for j, member in enumerate(self.members):
            if member is None or not wanted[j]:
                continue
            if member.config.activation in DEAD_ACTIVATIONS:
                dead_out[j] = float(dead[j]) / total
            else:
                pinned_out[j] = float(pinned[j]) / total
        return dead_out, pinned_out

    def _initial_sums(self, x: Any, y: Any) -> Any:
        _, losses, _, g_norm = self.losses_and_grads(x, y)
        return losses, g_norm

    # -- one epoch of every member ------------------------------------------------------

    def _train_epoch(self, order: np.ndarray, active: np.ndarray) -> tuple[Any, ...]:
        """One epoch of training in the given ``order`` (``(1, examples)``: one order
        shared by every member; ``(K, examples)``: one per slot) of the ``active`` slots:
        the compiled epoch's sums per slot (:meth:`_make_epoch`)."""
        tf = self._tf
        loop, tail = self._compiled["epoch_shared" if len(order) == 1 else "epoch"]
        order_t = tf.constant(order)
        outs = loop(self._xt, self._yt, order_t, tf.constant(active))
        return outs if tail is None else tail(self._xt, self._yt, order_t, outs)

    def run_epoch(
        self,
        on_epoch_end: PopulationCallback | None = None,
        on_preflight: PopulationPreflight | None = None,
        on_records: PopulationRecords | None = None,
    ) -> list[tuple[Any, TrainResult]]:
        """Train every member one epoch; ``(key, result)`` of the members that ended.

        Members added since the last epoch are measured on the probe batch and get their
        pre-flight warnings first. ``on_records`` gets the records of the members that did
        not diverge in this epoch, all at once; then ``on_epoch_end(key, record)`` is
        called for each of them, and ``True`` stops that member (``stopped_early`` unless
        it was its last epoch). Ended members free their slots.
        """
        self.flush()
        fresh = [j for j, m in enumerate(self.members) if m is not None and m.fresh]
        if fresh:
            self._preflight(fresh, on_preflight)
        active = np.array([m is not None for m in self.members])
        if not active.any():
            return []
        t0 = time.perf_counter()
        perms: dict[tuple[int, int], np.ndarray] = {}
        rows: list[np.ndarray | None] = []
        for member in self.members:
            if member is None:
                rows.append(None)
                continue
            member.epoch += 1
            key = (member.config.seed, member.epoch)
            if key not in perms:
                perms[key] = member.rng.permutation(self.num_train).astype(np.int32)
            else:  # same seed, same epoch: same permutation; keep the generator in step
                member.rng.permutation(self.num_train)
            rows.append(perms[key])
        if len(perms) == 1:  # every member draws the same order: one shared batch
            order = next(iter(perms.values()))[None]
        else:
            filler = next(iter(perms.values()))
            order = np.stack([filler if r is None else r for r in rows])
        ok, batches, *sums = (v.numpy() for v in self._train_epoch(order, active))
        val_loss = val_acc = None
        if self.num_validation:
            val_loss, val_acc = self.evaluate(*self._val)
        dead, saturated = self._units()
        seconds = time.perf_counter() - t0
        self._epoch_seconds = seconds
        ended: list[int] = []
        going: list[tuple[int, EpochRecord]] = []
        for j in map(int, np.flatnonzero(active)):
            member = self._member(j)
            record, member.divergence, member.last_batch_loss = _epoch_end(
                member.epoch,
                batches[j],
                ok[j],
                [s[j] for s in sums],
                member.last_batch_loss,
                val_loss=None if val_loss is None else float(val_loss[j]),
                val_accuracy=None if val_acc is None else float(val_acc[j]),
                seconds=seconds,
                dead_fraction=dead[j],
                saturated_fraction=saturated[j],
            )
            member.history.append(record)
            if ok[j]:
                going.append((j, record))
            else:
                ended.append(j)
        if on_records is not None and going:
            on_records([(self._member(j).key, record) for j, record in going])
        for j, record in going:
            member = self._member(j)
            last = member.epoch >= member.config.epochs
            if on_epoch_end is not None and on_epoch_end(member.key, record):
                member.stopped = not last
                ended.append(j)
            elif last:
                ended.append(j)
        return self._finish(sorted(ended))

    def initial(self) -> tuple[np.ndarray, np.ndarray]:
        """Loss and gradient norm of every slot on the probe batch, as it is now (before
        a member's first step: the pre-flight initial-loss check and the ``exploded``
        label compare against them)."""
        self.flush()
        if not int(self._probe_x.shape[0]):
            nan = np.full(self.size, np.nan)
            return nan, nan
        losses, norms = self._initial_sums(self._probe_x, self._probe_y)
        return losses.numpy(), norms.numpy()

    def _preflight(self, slots: list[int], on_preflight: PopulationPreflight | None) -> None:
        losses, norms = self.initial()
        for j in slots:
            member = self._member(j)
            member.initial_loss, member.initial_grad = float(losses[j]), float(norms[j])
            member.warnings = run_checks(
                member.config, self.num_classes, initial_loss=member.initial_loss
            )
            member.fresh = False
            if on_preflight is not None:
                on_preflight(member.key, member.warnings)

    def _finish(self, slots: list[int]) -> list[tuple[Any, TrainResult]]:
        """Results of the members in ``slots``; their slots are freed."""
        if not slots:
            return []
        test_loss, test_acc = self.evaluate(*self._test)
        all_kernels = [w.numpy() for w in self.kernels]
        all_biases = [b.numpy() for b in self.biases]
        out = []
        now = time.perf_counter()
        for j in slots:
            member = self._member(j)
            kernels = [w[j] for w in all_kernels]
            biases = [b[j] for b in all_biases]
            outcome = _classify_run(
                member.history,
                member.divergence,
                kernels=kernels,
                biases=biases,
                test_accuracy=float(test_acc[j]),
                chance_accuracy=self._chance,
                initial_loss=member.initial_loss,
                initial_grad_norm=member.initial_grad,
                config=member.config,
            )
            model = None
            if self.keep_models:
                model = build_model(member.config, self.num_features, self.num_classes)
                model.set_weights([w for pair in zip(kernels, biases, strict=True) for w in pair])
            result = TrainResult(
                config=member.config,
                outcome=outcome,
                history=tuple(member.history),
                test_loss=float(test_loss[j]),
                test_accuracy=float(test_acc[j]),
                chance_accuracy=self._chance,
                divergence=member.divergence,
                stopped_early=member.stopped,
                wall_time=now - member.started,
                num_train=self.num_train,
                num_validation=self.num_validation,
                model=model,
                initial_loss=member.initial_loss,
                initial_grad_norm=member.initial_grad,
                warnings=member.warnings,
            )
            out.append((member.key, result))
            self._release(j)
        if not self.resizable:  # else at the next epoch: a refill may keep the size
            self.flush()
        return out


_TENSORS: weakref.WeakKeyDictionary[Dataset, dict[tuple[float, int], tuple[Any, ...]]] = (
    weakref.WeakKeyDictionary()
)


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


def _tensors(tf: Any, data: Dataset, split: float, n_probe: int) -> tuple[Any, ...]:
    """``data``'s examples as tensors: training x and y, validation and test pairs, the
    probe batch. Made once per dataset and split, for as long as the dataset lives: the
    populations of a sweep (one per shape) and every ``train()`` share them instead of
    each copying the training set (157 MB on MNIST)."""
    by_split = _TENSORS.setdefault(data, {})
    key = (split, n_probe)
    if key not in by_split:
        x_tr, y_tr, x_val, y_val = train_validation_split(data, split)
        by_split[key] = (
            tf.constant(x_tr, tf.float32),
            tf.constant(y_tr, tf.int32),
            (tf.constant(x_val, tf.float32), tf.constant(y_val, tf.int32)),
            (tf.constant(data.x_test, tf.float32), tf.constant(data.y_test, tf.int32)),
            tf.constant(x_tr[:n_probe], tf.float32),
            tf.constant(y_tr[:n_probe], tf.int32),
        )
    return by_split[key]


def _near(config: TrainConfig) -> tuple[float, float]:
    """Where a unit of ``config``'s activation counts as at its low / high bound."""
    low, high = (0.0, 1.0) if config.activation == "sigmoid" else (-1.0, 1.0)
    margin = SATURATION_MARGIN * (high - low)
    return low + margin, high - margin


@dataclass(frozen=True)
class _Rows:
    """How to fill a per-slot variable's row: for an empty slot, for a new member."""

    empty: np.ndarray
    init: Callable[[TrainConfig], Any]
    trainable: bool


def _var_name(key: Any) -> str:
    return "_".join(str(part) for part in key) if isinstance(key, tuple) else str(key)


def _has_choice(name: tuple[str, Any]) -> Callable[[TrainConfig], bool]:
    """A new member's row of the mask ``name``."""
    return lambda config: name in _choices(config)


def _choices(config: TrainConfig) -> set[tuple[str, Any]]:
    """The mask names (see :class:`_Kinds`) that select ``config``'s formulas."""
    return {
        ("activation", config.activation),
        ("loss", (config.loss, config.output_activation)),
        ("optimizer", config.optimizer),
    }


def _initial(
    config: TrainConfig,
    *,
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


def train_population(
    configs: Sequence[TrainConfig],
    *,
    dataset: Dataset | None = None,
    on_epoch_end: PopulationCallback | None = None,
    on_preflight: PopulationPreflight | None = None,
    keep_models: bool = False,
    jit: bool | None = None,
) -> list[TrainResult]:
    """Train ``configs`` together from the start; one :class:`TrainResult` per config,
    in order. Callbacks get the config's index as the member key; ``jit``: see
    :attr:`Population.jit`.

    Every config must have the same :func:`shape_key` (else ``ValueError``). Each
    member's history, weights and outcome are those of ``train(config)`` alone, up to
    rounding (see :class:`Population`). The population is resizable: members that end
    early (stopped, diverged, fewer epochs) stop costing compute.
    """
    configs = list(configs)
    if not configs:
        raise ValueError("a population needs at least one config")
    for i, config in enumerate(configs[1:], start=1):
        diff = ", ".join(
            f"{name}={getattr(config, name)!r} (member 0 has {getattr(configs[0], name)!r})"
            for name in SHAPE_FIELDS
            if getattr(config, name) != getattr(configs[0], name)
        )
        if diff:
            raise ValueError(
                f"member {i} does not share the shape of member 0: {diff}; members may "
                f"differ only in {', '.join(MEMBER_FIELDS)}"
            )
    pop = Population(
        configs[0],
        len(configs),
        dataset=dataset,
        keep_models=keep_models,
        resizable=True,
        jit=jit,
    )
    for i, config in enumerate(configs):
        pop.add(config, key=i)
    results: dict[int, TrainResult] = {}
    while pop.live:
        results.update(pop.run_epoch(on_epoch_end, on_preflight))
    return [results[i] for i in range(len(configs))]
