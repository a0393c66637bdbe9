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
A *resizable* population (the sweeps' and
:func:`trainer.training.train_population`'s) has no free slot
for long: at the next epoch boundary it grows to hold every member added, or drops its
free slots once an epoch of them would cost more than a new size does (the live members
move up with their state; the compiled functions are retraced for the new size).

**Independent members.** Each member keeps its own epoch counter and draws its own batch
order from its own seed, exactly the permutation ``train(config)`` draws
(``np.random.default_rng(seed).permutation`` per epoch); a step gathers a
``(K, batch, features)`` block, one batch per member. Every op is per member, so a
member's trajectory does not depend on its slot or its neighbours: it is the trajectory
of ``train(config)`` (a population of one), up to floating-point rounding, and the
optimizer formulas (:mod:`trainer.optimizers`) are checked against Keras' ``fit`` in
tests/trainer. Members must share :func:`trainer.shape.shape_key` (architecture, batch
size, data, validation split), which fixes the
shapes and the number of steps per epoch; learning rate, initialisation, activation,
output activation, loss, optimizer, momentum, seed and epochs may differ.

**Divergence.** The compiled epoch (:mod:`trainer.epoch`) checks per member that the
batch loss and gradient norm are finite. A member that fails is out from that batch on:
every update is masked by that check (:mod:`trainer.optimizers`), so its weights stay
those from before that batch; its :class:`~trainer.outcome.Divergence` is recorded.

The maths (variables, forward pass, gradients, optimizer step, the compiled epoch) are
:class:`trainer.graph.SlotGraph`'s; this module decides which member is in which slot,
when the population is resized, and turns the graph's sums into records and results
(:mod:`trainer.results`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainer.config import TrainConfig
from trainer.data import Dataset
from trainer.graph import Kinds, SlotGraph, new_size_seconds, use_xla
from trainer.inputs import dataset_for
from trainer.model import build_model
from trainer.outcome import Divergence
from trainer.preflight import PreflightWarning, run_checks
from trainer.results import EpochRecord, TrainResult, chance_accuracy, epoch_record, label_run
from trainer.shape import check_batch_fits, shape_key, shape_mismatch
from trainer.signals import DEAD_ACTIVATIONS, PROBE_SIZE, SATURATING_ACTIVATIONS
from trainer.tensors import data_tensors

__all__ = ["Population", "PopulationCallback", "PopulationPreflight", "PopulationRecords"]


PopulationCallback = Callable[[Any, EpochRecord], bool | None]
"""``(member key, record)`` after each epoch of a member still training; ``True`` stops it."""

PopulationPreflight = Callable[[Any, tuple[PreflightWarning, ...]], None]
"""``(member key, warnings)`` once per member, before its first step."""

PopulationRecords = Callable[[list[tuple[Any, EpochRecord]]], None]
"""``[(member key, record), ...]`` of every member still training, once per epoch and
before any :data:`PopulationCallback` decides: a decision may compare the members."""


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
        self.jit = jit
        """Compile the epoch with XLA (at most :data:`trainer.graph.XLA_MAX_SIZE` slots);
        ``None``: when the members train long enough to repay the compile
        (:data:`trainer.graph.XLA_MIN_EXAMPLES`)."""
        if capacity < 1:
            raise ValueError("a population needs at least one slot")
        self.shape = shape_key(template)
        self.template = template
        self.resizable = resizable
        self.retrace_seconds: float | None = None
        """A resizable population drops its free slots when they cost more than this over
        the epochs its members have left (``None``: what compiling the new size is
        measured to cost, :func:`trainer.graph.new_size_seconds`)."""
        self._epoch_seconds = 0.0  # the last epoch's (training and validation)
        self.keep_models = keep_models
        data = dataset if dataset is not None else dataset_for(template)
        self.data = data
        self.num_train = check_batch_fits(template, data)
        self.num_features, self.num_classes = data.num_features, data.num_classes
        self._chance = chance_accuracy(data.y_test, self.num_classes)
        n_probe = min(PROBE_SIZE, self.num_train)
        self._tensors = data_tensors(data, template.validation_split, n_probe)
        self.num_validation = int(self._tensors.validation[1].shape[0])
        sizes = [self.num_features, *template.hidden_layers, self.num_classes]
        self.graph = SlotGraph(self._tensors, sizes, capacity, template.batch_size)
        """The compiled maths over the slots (:class:`trainer.graph.SlotGraph`)."""
        self.hidden_units = int(sum(template.hidden_layers))
        self._units_apply = bool(self.hidden_units and n_probe)
        self.members: list[_Member | None] = [None] * capacity
        self._pending: dict[int, TrainConfig | None] = {}  # slot -> new member / None: freed

    @property
    def size(self) -> int:
        """The number of slots (rows of every variable)."""
        return self.graph.size

    @property
    def free(self) -> int:
        """Free slots (a resizable population grows instead of running out)."""
        return sum(m is None for m in self.members)

    @property
    def live(self) -> int:
        return sum(m is not None for m in self.members)

    def keys(self) -> list[Any]:
        """The keys of the members in the slots now, in slot order."""
        return [m.key for m in self.members if m is not None]

    def add(self, config: TrainConfig, key: Hashable | None = None) -> int:
        """Put ``config`` into a free slot (call between epochs); returns the slot.

        ``key`` names the member in callbacks and results (default: the slot).
        """
        mismatch = shape_mismatch(config, self.shape, "population has")
        if mismatch:
            raise ValueError(f"config does not fit this population: {mismatch}")
        if self.resizable and None not in self.members:
            self.members.append(None)  # a new row at the next flush
        slot = self.members.index(None)  # ValueError when full
        kinds = self.graph.kinds
        if kinds is None or not kinds.covers(config):
            self.graph.compile((kinds or Kinds()).with_config(config), xla=self._xla())
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
        layout = list(range(len(self.members)))  # new row i <- old slot layout[i]
        if self.resizable:
            live = [j for j, m in enumerate(self.members) if m is not None]
            left = max((self._member(j).epochs_left for j in live), default=0)
            wasted = (self.size - len(live)) * self._epoch_seconds / self.size * left
            if len(live) > self.size or (live and wasted > self._retrace_cost(len(live))):
                layout = live
        self.members = [self.members[j] for j in layout]
        if self.graph.write(layout, pending):
            assert self.graph.kinds is not None
            self.graph.compile(self.graph.kinds, xla=self._xla())  # retrace for the new shapes

    def _retrace_cost(self, size: int) -> float:
        if self.retrace_seconds is not None:
            return self.retrace_seconds
        return new_size_seconds(self._xla(size))

    def _xla(self, size: int | None = None) -> bool:
        """Whether the epoch of ``size`` slots (default: now) is compiled with XLA."""
        configs = [self.template, *(m.config for m in self.members if m is not None)]
        examples = self.num_train * max(c.epochs for c in configs)
        return use_xla(self.size if size is None else size, examples, self.jit)

    # -- one epoch of every member ------------------------------------------------------

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
        ok, batches, *sums = (v.numpy() for v in self.graph.train_epoch(self._orders(), active))
        val_loss = val_acc = None
        if self.num_validation:
            val_loss, val_acc = self.graph.evaluate(*self._tensors.validation)
        dead, saturated = self._units()
        seconds = time.perf_counter() - t0
        self._epoch_seconds = seconds
        ended: list[int] = []
        going: list[tuple[int, EpochRecord]] = []
        for j in map(int, np.flatnonzero(active)):
            member = self._member(j)
            record, member.divergence, member.last_batch_loss = epoch_record(
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
        ended += self._judge(going, on_epoch_end, on_records)
        return self._finish(sorted(ended))

    def _orders(self) -> np.ndarray:
        """Each member's next epoch and its batch order, ``(K, examples)``; ``(1,
        examples)`` when every member draws the same order (one shared batch a step)."""
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
        if len(perms) == 1:
            return next(iter(perms.values()))[None]
        filler = next(iter(perms.values()))
        return np.stack([filler if r is None else r for r in rows])

    def _judge(
        self,
        going: list[tuple[int, EpochRecord]],
        on_epoch_end: PopulationCallback | None,
        on_records: PopulationRecords | None,
    ) -> list[int]:
        """The slots of the members still ``going`` that end now: their last epoch, or
        stopped by ``on_epoch_end`` (after ``on_records`` saw every record)."""
        if on_records is not None and going:
            on_records([(self._member(j).key, record) for j, record in going])
        ended: list[int] = []
        for j, record in going:
            member = self._member(j)
            last = member.epoch >= member.config.epochs
            if on_epoch_end is not None and on_epoch_end(member.key, record):
                member.stopped = not last
                ended.append(j)
            elif last:
                ended.append(j)
        return ended

    def initial(self) -> tuple[np.ndarray, np.ndarray]:
        """Loss and gradient norm of every slot on the probe batch, as it is now (before
        a member's first step: the pre-flight initial-loss check and the ``exploded``
        label compare against them)."""
        self.flush()
        return self.graph.probe_losses()

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
        dead, pinned = self.graph.unit_counts()
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

    def _finish(self, slots: list[int]) -> list[tuple[Any, TrainResult]]:
        """Results of the members in ``slots``; their slots are freed."""
        if not slots:
            return []
        test_loss, test_acc = self.graph.evaluate(*self._tensors.test)
        all_kernels = [w.numpy() for w in self.graph.kernels]
        all_biases = [b.numpy() for b in self.graph.biases]
        now = time.perf_counter()
        out = []
        for j in slots:
            member = self._member(j)
            weights = ([w[j] for w in all_kernels], [b[j] for b in all_biases])
            test = (float(test_loss[j]), float(test_acc[j]))
            out.append((member.key, self._result(member, *weights, *test, ended_at=now)))
            self._release(j)
        if not self.resizable:  # else at the next epoch: a refill may keep the size
            self.flush()
        return out

    def _result(
        self,
        member: _Member,
        kernels: list[np.ndarray],
        biases: list[np.ndarray],
        test_loss: float,
        test_accuracy: float,
        *,
        ended_at: float,
    ) -> TrainResult:
        """``member``'s :class:`TrainResult` from its final weights and test metrics;
        ``ended_at`` is when it ended (``time.perf_counter``)."""
        outcome = label_run(
            member.history,
            member.divergence,
            kernels=kernels,
            biases=biases,
            test_accuracy=test_accuracy,
            chance_accuracy=self._chance,
            initial_loss=member.initial_loss,
            initial_grad_norm=member.initial_grad,
            config=member.config,
        )
        # copies: a slice would keep every member's weights alive
        weights = tuple(w.copy() for pair in zip(kernels, biases, strict=True) for w in pair)
        model = None
        if self.keep_models:
            model = build_model(member.config, self.num_features, self.num_classes)
            model.set_weights(list(weights))
        return TrainResult(
            config=member.config,
            outcome=outcome,
            history=tuple(member.history),
            test_loss=test_loss,
            test_accuracy=test_accuracy,
            chance_accuracy=self._chance,
            divergence=member.divergence,
            stopped_early=member.stopped,
            wall_time=ended_at - member.started,
            num_train=self.num_train,
            num_validation=self.num_validation,
            model=model,
            weights=weights,
            initial_loss=member.initial_loss,
            initial_grad_norm=member.initial_grad,
            warnings=member.warnings,
        )
