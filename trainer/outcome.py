"""Name what happened to a run, with the numbers behind it.

Labels, in order of precedence (:data:`LABELS`); a run gets *every* label that applies in
``Outcome.labels`` and the first of them as ``Outcome.label``:

1. ``diverged``: a non-finite loss or gradient norm stopped the run (epoch, batch).
2. ``exploded``: the training loss rose far above where it started, judged on the loss
   trajectory: an epoch's mean training loss (or the last finite batch loss before a
   divergence) above :data:`EXPLODE_LOSS_FACTOR` times the initial loss; the last epoch's
   loss above :data:`EXPLODE_END_FACTOR` times it (worse than at the start, not
   recovering); or the loss above :data:`EXPLODE_RISE_FACTOR` times it together with a
   batch gradient norm above :data:`EXPLODE_GRAD_FACTOR` times the running median of the
   gradient norm (the probe's before the first step, each epoch's mean after). A run
   whose loss never rises above its start is never ``exploded``, however its gradient
   norm compares with a (possibly near-zero) initial one.
3. ``symmetric``: the units of a hidden layer are identical, or only a few distinct
   groups of identical units (:mod:`trainer.symmetry`): a zero or constant init. A layer
   whose units end identical is ``symmetric`` whatever the accuracy it reaches.
4. ``stuck``: not learning. Test accuracy is not above the chance baseline computed from
   the label distribution (always guessing the majority class: 0.1135 on MNIST test) plus
   :data:`STUCK_MARGIN`, *and* something says it is not learning: the training loss is
   not falling (:mod:`trainer.loss_trend`: judged on the last epoch's batch losses, or
   over several epochs on the epochs' losses), the gradients are zero, the units are
   identical, or most ReLU units are dead. Without a loss history a run at chance is
   ``stuck``.
5. ``slow``: learning, too slowly to show it yet. Test accuracy is at chance as for
   ``stuck``, but the training loss is clearly falling with non-zero gradients and no
   identical or dead units. More epochs or a larger step would help; the reason names
   the parameter most likely responsible (``learning_rate``).
6. ``dead_units``: more than :data:`DEAD_THRESHOLD` of the ReLU units are never active on
   the probe batch at the end of training.
7. ``saturated``: more than :data:`SATURATED_THRESHOLD` of the sigmoid/tanh units are
   pinned near a bound of their range (see :mod:`trainer.signals`).
8. ``ok``: none of the above.

The order puts the cause before its symptom and the severe before the mild: a run that
diverged usually exploded first; identical units explain a run that is stuck; a run that
does not learn at all is worse than one that learns slowly, and one at chance is worse than
one that learns with dead or saturated units. ``stuck`` and ``slow`` never apply together,
and neither applies to a diverged run.

When :func:`classify` gets the run's :class:`~trainer.config.TrainConfig`, the reasons of
``exploded``, ``stuck`` and ``slow`` name the parameter most likely responsible (the
learning rate, the initializer, the bias init, the output activation).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from trainer.loss_trend import FALL_Z, SLOW_MIN_DROP, LossTrend, loss_trend
from trainer.preflight import INITIAL_LOSS_FACTOR, expected_initial_loss
from trainer.symmetry import describe_symmetry, symmetric_groups

if TYPE_CHECKING:
    from trainer.config import TrainConfig

LABELS = (
    "diverged",
    "exploded",
    "symmetric",
    "stuck",
    "slow",
    "dead_units",
    "saturated",
    "ok",
)
"""Every outcome label, most important first (the precedence used for ``Outcome.label``)."""

STUCK_MARGIN = 0.02
"""Accuracy must beat the majority-class baseline by more than this to count as learning."""

EXPLODE_LOSS_FACTOR = 10.0
"""``exploded`` when an epoch's training loss exceeds this multiple of the initial loss."""

EXPLODE_RISE_FACTOR = 1.1
"""... or exceeds this multiple of it while a gradient norm spiked (see below)."""

EXPLODE_END_FACTOR = 1.5
"""... or when the last epoch's training loss is above this multiple of the initial loss:
training made the run worse and it did not recover."""

EXPLODE_GRAD_FACTOR = 100.0
"""A batch gradient norm above this multiple of the running median gradient norm is a
spike; it makes a run ``exploded`` only when the loss also rose (:data:`EXPLODE_RISE_FACTOR`)."""

DEAD_THRESHOLD = 0.5
"""``dead_units`` when more than this share of the ReLU units is never active."""

SATURATED_THRESHOLD = 0.5
"""``saturated`` when more than this share of the sigmoid/tanh units is pinned at a bound."""

_ZERO_GRAD = 1e-8


@dataclass(frozen=True)
class Divergence:
    """Where the first non-finite loss (or gradient norm) appeared; 1-based epoch/batch."""

    epoch: int
    batch: int
    loss: float
    grad_norm: float
    last_finite_loss: float | None

    @property
    def reason(self) -> str:
        what = f"loss={_num(self.loss)}"
        if math.isfinite(self.loss):
            what = f"gradient norm={_num(self.grad_norm)} (loss={_num(self.loss)})"
        last = (
            f" (last finite loss {self.last_finite_loss:.4g})"
            if self.last_finite_loss is not None
            else " (no finite loss before it)"
        )
        return f"diverged at epoch {self.epoch} batch {self.batch}: {what}{last}"


@dataclass(frozen=True)
class Outcome:
    """A label, a one-line human reason and the numbers behind it.

    ``labels`` holds every label that applies, in :data:`LABELS` order; ``label`` is the
    first of them. It defaults to ``(label,)``.
    """

    label: str
    reason: str
    evidence: dict[str, float] = field(default_factory=dict)
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.labels:
            object.__setattr__(self, "labels", (self.label,))

    def with_evidence(self, **more: float) -> Outcome:
        return dataclasses.replace(self, evidence={**self.evidence, **more})


def _num(value: float) -> str:
    return str(value) if not math.isfinite(value) else f"{value:.4g}"


@dataclass(frozen=True)
class RunEvidence:
    """Everything :func:`classify` judges a finished run on, as one value
    (:func:`trainer.results.label_run` builds it from a run's history).

    The signals after ``last_grad_norm`` are optional: a label whose signal is missing
    does not apply (``exploded`` needs ``initial_loss`` and ``max_loss``; ``slow`` vs
    ``stuck`` needs ``initial_loss`` and ``epoch_losses``, the epochs' mean training
    losses). ``config`` lets the reasons name the parameter most likely responsible.
    """

    test_accuracy: float
    chance_accuracy: float
    divergence: Divergence | None
    kernels: Sequence[np.ndarray]
    biases: Sequence[np.ndarray]
    last_grad_norm: float
    initial_loss: float | None = None
    max_loss: float | None = None
    initial_grad_norm: float | None = None
    max_grad_norm: float | None = None
    dead_fraction: float | None = None
    saturated_fraction: float | None = None
    epoch_losses: Sequence[float] = ()
    epoch_grad_norms: Sequence[float] = ()
    last_fall: tuple[float, float] | None = None
    """The last epoch's batch-loss trend, ``(fall, z)`` (:func:`batch_trend`)."""
    config: TrainConfig | None = None


def classify(run: RunEvidence, *, margin: float = STUCK_MARGIN) -> Outcome:
    """Label a finished run from its final weights, metrics and signals; ``margin`` is
    how far above chance test accuracy must be to count as learning."""
    evidence: dict[str, float] = {
        "test_accuracy": run.test_accuracy,
        "chance_accuracy": run.chance_accuracy,
    }
    found: dict[str, str] = {}
    if run.divergence is not None:
        evidence.update(epoch=run.divergence.epoch, batch=run.divergence.batch)
        found["diverged"] = run.divergence.reason

    exploded = explosion(
        initial_loss=run.initial_loss,
        max_loss=run.max_loss,
        initial_grad_norm=run.initial_grad_norm,
        max_grad_norm=run.max_grad_norm,
        epoch_grad_norms=run.epoch_grad_norms,
        final_loss=_last_finite(run.epoch_losses),
    )
    evidence.update(exploded.evidence)
    if exploded.exploded:
        found["exploded"] = exploded.reason + _blame_large_lr(run.config)

    hidden = list(zip(run.kernels[:-1], run.biases[:-1], strict=True))
    groups = [(i + 1, symmetric_groups(k, b)) for i, (k, b) in enumerate(hidden)]
    symmetric = [(i, g) for i, g in groups if g is not None]
    if symmetric:
        found["symmetric"] = (
            describe_symmetry(symmetric)
            + " (symmetry: zero or constant init; use a random initializer)"
        )
        evidence["symmetric_layers"] = float(len(symmetric))

    learned = run.test_accuracy > run.chance_accuracy + margin
    if run.divergence is None and not learned:
        found.update(_not_learning(run, margin, evidence, bool(symmetric), exploded.spiked))
    found.update(_unit_signals(run, evidence))

    if not found:
        found["ok"] = f"test accuracy {run.test_accuracy:.4f} > chance {run.chance_accuracy:.4f}"
    labels = tuple(name for name in LABELS if name in found)
    primary = labels[0]
    reason = found[primary]
    if len(labels) > 1:
        reason += "; also " + "; ".join(f"{name}: {found[name]}" for name in labels[1:])
    return Outcome(primary, reason, evidence, labels)


def _not_learning(
    run: RunEvidence, margin: float, evidence: dict[str, float], symmetric: bool, spiked: bool
) -> dict[str, str]:
    """``slow`` or ``stuck`` (with why) for a run at chance that did not diverge; adds
    the numbers behind it to ``evidence``."""
    grad, config, dead = run.last_grad_norm, run.config, run.dead_fraction
    trend = loss_trend(run.initial_loss, run.epoch_losses, run.last_fall)
    evidence["grad_norm"] = grad
    if trend is not None:
        evidence.update(final_loss=trend.final, loss_drop=trend.drop)
        if trend.batch_z is not None:
            evidence["loss_fall_z"] = trend.batch_z
    at_chance = (
        f"test accuracy {run.test_accuracy:.4f} is not above chance "
        f"{run.chance_accuracy:.4f} (majority class) + {margin:g}"
    )
    why: list[str] = []
    if symmetric:
        why.append("identical units" + _blame(config, "weight_init"))
    if math.isfinite(grad) and grad < _ZERO_GRAD:
        why.append(f"gradients are zero (norm {grad:.2g})")
    if dead is not None and dead > DEAD_THRESHOLD:
        rose = evidence.get("loss_ratio", 0.0) > 1.0
        why.append(f"{dead:.0%} of the ReLU units are dead" + _blame_dead(config, spiked or rose))
    if trend is not None and not why and trend.falling:
        classes = int(run.kernels[-1].shape[-1]) if run.kernels else 10
        return {
            "slow": _blame_slow(config, run.saturated_fraction, trend.start, classes)
            + f"loss falling {trend.start:.4g}\u2192{trend.final:.4g} in "
            f"{len(run.epoch_losses)} epoch(s) {trend.describe()} but {at_chance}"
        }
    if trend is not None and not trend.falling:
        why.append(_flat_reason(trend, grad, config, bool(why)))
    return {"stuck": at_chance + (": " + "; ".join(why) if why else "")}


def _unit_signals(run: RunEvidence, evidence: dict[str, float]) -> dict[str, str]:
    """``dead_units`` / ``saturated`` from the probe's unit shares, where measured."""
    found: dict[str, str] = {}
    signals = (
        ("dead_units", "dead_fraction", run.dead_fraction, DEAD_THRESHOLD,
         "of the ReLU units are never active on the probe batch"),
        ("saturated", "saturated_fraction", run.saturated_fraction, SATURATED_THRESHOLD,
         "of the sigmoid/tanh units are pinned at a bound"),
    )  # fmt: skip
    for label, key, share, threshold, what in signals:
        if share is not None:
            evidence[key] = share
            if share > threshold:
                found[label] = f"{share:.0%} {what} (limit {threshold:.0%})"
    return found


# --------------------------------------------------------------------------- the rules


@dataclass(frozen=True)
class Explosion:
    """What :func:`explosion` found: ``exploded`` says whether the rule fired; ``spiked``
    whether a gradient norm spiked (even if the loss did not rise)."""

    exploded: bool
    reason: str
    evidence: dict[str, float]
    spiked: bool


def explosion(
    *,
    initial_loss: float | None,
    max_loss: float | None,
    initial_grad_norm: float | None = None,
    max_grad_norm: float | None = None,
    epoch_grad_norms: Sequence[float] = (),
    final_loss: float | None = None,
) -> Explosion:
    """The ``exploded`` rule, on the loss trajectory first.

    Exploded when the highest training loss (per-epoch mean, or the last finite batch loss
    before a divergence) is above :data:`EXPLODE_LOSS_FACTOR` x the initial loss, when the
    last epoch's loss (``final_loss``) is above :data:`EXPLODE_END_FACTOR` x it, or when
    the highest loss is above :data:`EXPLODE_RISE_FACTOR` x it while a batch gradient norm
    rose above :data:`EXPLODE_GRAD_FACTOR` x the running median gradient norm
    (:func:`gradient_scale`). Evidence: ``initial_loss``, ``max_loss``, ``loss_ratio``;
    ``initial_grad_norm``, ``max_grad_norm``, ``grad_ratio`` (max over initial, for
    reference only), ``grad_scale`` and ``grad_spike_ratio`` (max over the median).
    """
    evidence: dict[str, float] = {}
    loss_ratio = _ratio(max_loss, initial_loss)
    if loss_ratio is not None:
        assert max_loss is not None and initial_loss is not None
        evidence.update(initial_loss=initial_loss, max_loss=max_loss, loss_ratio=loss_ratio)
    grad_ratio = _ratio(max_grad_norm, initial_grad_norm)
    if grad_ratio is not None:
        assert max_grad_norm is not None and initial_grad_norm is not None
        evidence.update(
            initial_grad_norm=initial_grad_norm, max_grad_norm=max_grad_norm, grad_ratio=grad_ratio
        )
    scale = gradient_scale(initial_grad_norm, epoch_grad_norms)
    spike_ratio = _ratio(max_grad_norm, scale)
    if spike_ratio is not None:
        assert scale is not None
        evidence.update(grad_scale=scale, grad_spike_ratio=spike_ratio)
    spiked = spike_ratio is not None and spike_ratio > EXPLODE_GRAD_FACTOR
    if loss_ratio is None:
        return Explosion(False, "", evidence, spiked)
    assert max_loss is not None and initial_loss is not None
    rose = f"training loss rose to {max_loss:.4g}, {loss_ratio:.3g}x its initial {initial_loss:.4g}"
    if loss_ratio > EXPLODE_LOSS_FACTOR:
        return Explosion(True, f"{rose} (limit {EXPLODE_LOSS_FACTOR:g}x)", evidence, spiked)
    end_ratio = _ratio(final_loss, initial_loss)
    if end_ratio is not None and end_ratio > EXPLODE_END_FACTOR:
        assert final_loss is not None
        return Explosion(
            True,
            f"training loss ended at {final_loss:.4g}, {end_ratio:.3g}x its initial "
            f"{initial_loss:.4g} (limit {EXPLODE_END_FACTOR:g}x): training made it worse",
            evidence,
            spiked,
        )
    if loss_ratio > EXPLODE_RISE_FACTOR and spiked:
        assert max_grad_norm is not None and scale is not None
        return Explosion(
            True,
            f"{rose} while the gradient norm spiked to {max_grad_norm:.4g}, "
            f"{spike_ratio:.3g}x its running median {scale:.4g} "
            f"(limit {EXPLODE_GRAD_FACTOR:g}x)",
            evidence,
            spiked,
        )
    return Explosion(False, "", evidence, spiked)


def gradient_scale(
    initial_grad_norm: float | None, epoch_grad_norms: Sequence[float]
) -> float | None:
    """The running median gradient norm: the median of the probe gradient norm before the
    first step and each epoch's mean batch gradient norm (finite, positive values only).

    A scale that means something: a near-zero initial gradient norm (a tiny init) does not
    make every later, ordinary gradient look like a spike."""
    values = [initial_grad_norm, *epoch_grad_norms]
    finite = [float(v) for v in values if v is not None and math.isfinite(v) and v > 0]
    return float(np.median(finite)) if finite else None


def _last_finite(values: Sequence[float]) -> float | None:
    finite = [float(v) for v in values if math.isfinite(v)]
    return finite[-1] if finite else None


def _blame(config: TrainConfig | None, name: str) -> str:
    if config is None:
        return ""
    return f" ({name} {getattr(config, name)})"


def _blame_large_lr(config: TrainConfig | None) -> str:
    if config is None:
        return ""
    if config.loss == "crossentropy" and config.output_activation == "linear":
        return ": output_activation linear with crossentropy (use softmax)"
    return f": learning_rate {config.learning_rate:g} too large for {_setup(config)}"


def _blame_dead(config: TrainConfig | None, too_fast: bool) -> str:
    if config is None:
        return ""
    if config.bias_init == "constant" and config.bias_init_scale < 0:
        return f" (bias_init constant {config.bias_init_scale:g} keeps them off)"
    if too_fast:  # a gradient spike, or the loss rose above its start
        return f" (killed by too large a step: learning_rate {config.learning_rate:g})"
    return f" (learning_rate {config.learning_rate:g}, bias_init {config.bias_init})"


def _blame_slow(
    config: TrainConfig | None,
    saturated_fraction: float | None,
    initial_loss: float,
    num_classes: int,
) -> str:
    if saturated_fraction is not None and saturated_fraction > SATURATED_THRESHOLD:
        if config is None:
            return "init scale saturates the units: "
        return (
            f"weight_init {config.weight_init} scale {config.weight_init_scale:g} saturates "
            f"{saturated_fraction:.0%} of the {config.activation} units: "
        )
    if config is None:
        return "learning rate likely too small: "
    expected = expected_initial_loss(config, num_classes)
    if initial_loss > INITIAL_LOSS_FACTOR * expected:
        # a far too large init: the first epochs only undo it
        return (
            f"weight_init {config.weight_init} scale {config.weight_init_scale:g} too large: "
            f"initial loss {initial_loss:.4g}, {initial_loss / expected:.3g}x the "
            f"{expected:.3g} of zero logits; "
        )
    return f"learning_rate {config.learning_rate:g} too small for {_setup(config)}: "


def _flat_reason(
    trend: LossTrend, grad_norm: float, config: TrainConfig | None, explained: bool
) -> str:
    text = f"training loss flat ({trend.start:.4g}\u2192{trend.final:.4g})"
    if trend.previous is None and trend.batch is not None:  # one epoch: the batches decide
        fall, z = trend.batch
        moved = f"fell {fall:.3g}" if fall >= 0 else f"rose {-fall:.3g}"
        text = (
            f"training loss flat ({trend.start:.4g}\u2192{trend.final:.4g}; the epoch's "
            f"batch losses {moved}, z={z:.1f}: falling needs {SLOW_MIN_DROP:.0%} at z>={FALL_Z:g})"
        )
    elif trend.drop >= SLOW_MIN_DROP:  # fell, then rose again in the last epoch
        text = f"training loss no longer falling ({trend.previous:.4g}\u2192{trend.final:.4g})"
    elif trend.drop <= -SLOW_MIN_DROP:
        text = f"training loss rose ({trend.start:.4g}\u2192{trend.final:.4g})"
    if config is None or explained:
        return text
    if config.loss == "crossentropy" and config.output_activation == "linear":
        return text + " (output_activation linear with crossentropy: use softmax)"
    if trend.drop > 0 and math.isfinite(grad_norm) and grad_norm > _ZERO_GRAD:
        lr = config.learning_rate
        return text + f" with non-zero gradients (learning_rate {lr:g} too small?)"
    return text + f" (learning_rate {config.learning_rate:g} for {_setup(config)})"


def _setup(config: TrainConfig) -> str:
    return f"{config.activation}/{config.loss} ({config.optimizer})"


def _ratio(value: float | None, initial: float | None) -> float | None:
    if value is None or initial is None:
        return None
    if not (math.isfinite(value) and math.isfinite(initial)) or initial <= 0:
        return None
    return value / initial
