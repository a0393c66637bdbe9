"""Tests for trainer.population: every member of a population trains as it would alone.

The reference is :func:`trainer.training.train` with the same config: same initial
weights (exactly), same history and final weights (to float tolerance), same divergence
epoch/batch. One mixed cohort (every activation, every loss/output pair, every optimizer)
is trained once per module; each member is then compared with its own solo run.
"""

from __future__ import annotations

import gc
import math
from typing import Any

import numpy as np
import pytest

from benchmarks._keras_reference import NIELSEN_NET
from tests._cases import LINEAR_NORMAL
from tests.trainer._memory import live_func_graphs, needs_statm, rss_mb
from trainer.config import (
    ACTIVATIONS,
    LOSSES,
    OPTIMIZERS,
    OUTPUT_ACTIVATIONS,
    ConfigError,
    TrainConfig,
)
from trainer.data import Dataset
from trainer.model import build_model
from trainer.population import Population
from trainer.results import TrainResult
from trainer.shape import shape_key
from trainer.training import train, train_population

LOSS_RTOL, LOSS_ATOL = 1e-4, 1e-5
WEIGHT_RTOL, WEIGHT_ATOL = 1e-4, 1e-5

BASE = TrainConfig(
    hidden_layers=(16,),
    activation="sigmoid",
    output_activation="softmax",
    weight_init="glorot_uniform",
    bias_init="zeros",
    loss="crossentropy",
    optimizer="sgd",
    learning_rate=0.1,
    batch_size=32,
    epochs=2,
    seed=3,
    dataset="mnist-mini",
    validation_split=0.1,
)

DIVERGING = BASE.replace(**LINEAR_NORMAL, learning_rate=3.0)  # blows up in a few batches


def _output_for(loss: str, output: str) -> dict[str, Any]:
    """Settings that keep each (loss, output) pair trainable and non-chaotic; the
    cross-entropy on raw outputs divides by the sum of the logits, so those start
    positive (bias 1) with a small step."""
    if loss == "crossentropy" and output == "linear":
        return {"bias_init": "constant", "bias_init_scale": 1.0, "learning_rate": 0.01}
    if output == "linear":
        return {"learning_rate": 0.05}
    return {"learning_rate": 0.5 if loss != "crossentropy" else 0.1}


MIXED: list[tuple[str, TrainConfig]] = [
    *[(f"activation={a}", BASE.replace(activation=a, learning_rate=0.05)) for a in ACTIVATIONS],
    *[
        (
            f"loss={loss},output={out}",
            BASE.replace(
                loss=loss, output_activation=out, activation="tanh", **_output_for(loss, out)
            ),
        )
        for loss in LOSSES
        for out in OUTPUT_ACTIVATIONS
    ],
    ("optimizer=sgd", BASE.replace(optimizer="sgd", learning_rate=0.3, activation="relu")),
    ("optimizer=momentum", BASE.replace(optimizer="momentum", learning_rate=0.02, momentum=0.9)),
    ("optimizer=momentum0", BASE.replace(optimizer="momentum", learning_rate=0.05, momentum=0.0)),
    ("optimizer=adam", BASE.replace(optimizer="adam", learning_rate=0.003, activation="elu")),
    (
        "optimizer=rmsprop",
        BASE.replace(
            optimizer="rmsprop",
            learning_rate=0.001,
            weight_init="he_normal",
            bias_init="normal",
            bias_init_scale=0.1,
        ),
    ),
    (
        "init=truncated_normal",
        BASE.replace(
            weight_init="truncated_normal",
            weight_init_scale=0.1,
            bias_init="uniform",
            bias_init_scale=0.05,
            optimizer="adam",
            learning_rate=0.001,
        ),
    ),
]
NAMES = [name for name, _ in MIXED]


@pytest.fixture(scope="module")
def small(mini: Dataset) -> Dataset:
    """2000 examples of mnist-mini (1800 train / 200 validation, 57 batches of 32) and
    500 test images: fast, and enough steps for the trajectories to be meaningful."""
    return Dataset(
        "mnist-mini[:2000]",
        mini.x_train[:2000],
        mini.y_train[:2000],
        mini.x_test[:500],
        mini.y_test[:500],
    )


@pytest.fixture(scope="module")
def mixed(small: Dataset) -> dict[str, TrainResult]:
    """The mixed cohort, trained once (in an order that is not sorted by optimizer)."""
    results = train_population([c for _, c in MIXED], dataset=small, keep_models=True)
    return dict(zip(NAMES, results, strict=True))


def solo(config: TrainConfig, data: Dataset, **kwargs: Any) -> TrainResult:
    return train(config, dataset=data, keep_model=True, **kwargs)


def assert_same_run(pop: TrainResult, ref: TrainResult, data: Dataset) -> None:
    """History, weights and test accuracy of a member equal its solo run's."""
    assert pop.config == ref.config
    assert len(pop.history) == len(ref.history)
    n_val = ref.num_validation
    for mine, theirs in zip(pop.history, ref.history, strict=True):
        assert mine.epoch == theirs.epoch
        assert mine.batches == theirs.batches
        np.testing.assert_allclose(mine.loss, theirs.loss, rtol=LOSS_RTOL, atol=LOSS_ATOL)
        np.testing.assert_allclose(mine.accuracy, theirs.accuracy, atol=1.5 / ref.num_train)
        if theirs.val_loss is None:
            assert mine.val_loss is None
        else:
            assert mine.val_loss is not None
            np.testing.assert_allclose(
                mine.val_loss, theirs.val_loss, rtol=LOSS_RTOL, atol=LOSS_ATOL
            )
            assert mine.val_accuracy is not None and theirs.val_accuracy is not None
            assert abs(mine.val_accuracy - theirs.val_accuracy) <= 1.5 / n_val
        np.testing.assert_allclose(mine.grad_norm, theirs.grad_norm, rtol=1e-3, atol=1e-6)
        assert mine.dead_fraction == pytest.approx(theirs.dead_fraction, abs=1e-6)
        assert mine.saturated_fraction == pytest.approx(theirs.saturated_fraction, abs=1e-6)
    assert abs(pop.test_accuracy - ref.test_accuracy) <= 1.5 / len(data.y_test)
    np.testing.assert_allclose(pop.test_loss, ref.test_loss, rtol=LOSS_RTOL, atol=LOSS_ATOL)
    for mine_w, ref_w in zip(pop.model.get_weights(), ref.model.get_weights(), strict=True):
        np.testing.assert_allclose(mine_w, ref_w, rtol=WEIGHT_RTOL, atol=WEIGHT_ATOL)
    assert pop.divergence == ref.divergence or (
        pop.divergence is not None
        and ref.divergence is not None
        and (pop.divergence.epoch, pop.divergence.batch)
        == (ref.divergence.epoch, ref.divergence.batch)
    )
    assert pop.stopped_early == ref.stopped_early
    assert pop.outcome.label == ref.outcome.label
    assert pop.chance_accuracy == ref.chance_accuracy
    assert (pop.num_train, pop.num_validation) == (ref.num_train, ref.num_validation)
    assert pop.initial_loss == pytest.approx(ref.initial_loss, rel=1e-5)
    assert pop.initial_grad_norm == pytest.approx(ref.initial_grad_norm, rel=1e-4)
    assert [w.code for w in pop.warnings] == [w.code for w in ref.warnings]


# --------------------------------------------------------------------------- cohorts


def test_shape_key_names_what_members_share() -> None:
    assert shape_key(BASE) == ((16,), 32, "mnist-mini", 0.1, "", "", 0.2, "none")
    for table_change in ({"label": "y"}, {"test_split": 0.3}, {"scale": "standard"}):
        assert shape_key(BASE.replace(**table_change)) != shape_key(BASE)
    member_change = {"learning_rate": 1.0, "optimizer": "adam", "loss": "mse", "seed": 9}
    assert shape_key(BASE.replace(**member_change, epochs=7)) == shape_key(BASE)
    assert shape_key(BASE.replace(batch_size=64)) != shape_key(BASE)


@pytest.mark.parametrize(
    "change",
    [
        {"batch_size": 16},
        {"hidden_layers": [8]},
        {"validation_split": 0.2},
        {"dataset": "mnist"},
    ],
)
def test_members_with_another_shape_are_refused(change: dict[str, Any]) -> None:
    field = next(iter(change))
    with pytest.raises(ValueError, match=rf"member 1 .*{field}="):
        train_population([BASE, BASE.replace(**change)])


def test_an_empty_population_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        train_population([])


def test_batch_size_larger_than_the_training_set_is_a_config_error(small: Dataset) -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        train_population([BASE.replace(batch_size=5000)], dataset=small)


@pytest.mark.parametrize(
    ("weight_init", "bias_init"),
    [
        ("glorot_uniform", "zeros"),
        ("glorot_normal", "normal"),
        ("he_normal", "uniform"),
        ("he_uniform", "truncated_normal"),
        ("lecun_normal", "constant"),
        ("normal", "ones"),
        ("truncated_normal", "normal"),
        ("uniform", "uniform"),
        ("zeros", "zeros"),
        ("ones", "constant"),
        ("constant", "normal"),
    ],
)
def test_initial_weights_equal_the_keras_model(
    small: Dataset, weight_init: str, bias_init: str
) -> None:
    configs = [
        BASE.replace(
            hidden_layers=[12, 7],
            weight_init=weight_init,
            weight_init_scale=scale,
            bias_init=bias_init,
            bias_init_scale=0.3 * scale,
            seed=seed,
        )
        for seed in (3,)
        for scale in (0.5, 2.0)
    ]
    pop = Population(configs[0], len(configs), dataset=small)
    for config in configs:
        pop.add(config)
    pop.flush()
    for k, config in enumerate(configs):
        model = build_model(config, small.num_features, small.num_classes)
        for layer, dense in enumerate(model.layers):
            np.testing.assert_array_equal(pop.graph.kernels[layer].numpy()[k], dense.kernel.numpy())
            np.testing.assert_array_equal(pop.graph.biases[layer].numpy()[k], dense.bias.numpy())


# --------------------------------------------------------------------------- equivalence


@pytest.mark.parametrize("name", NAMES)
def test_member_of_a_mixed_cohort_trains_as_alone(
    name: str, mixed: dict[str, TrainResult], small: Dataset
) -> None:
    config = dict(MIXED)[name]
    assert_same_run(mixed[name], solo(config, small), small)


def test_the_mixed_cohort_covers_every_choice() -> None:
    configs = [c for _, c in MIXED]
    assert {c.activation for c in configs} == set(ACTIVATIONS)
    assert {c.optimizer for c in configs} == set(OPTIMIZERS)
    assert {(c.loss, c.output_activation) for c in configs} == {
        (loss, out) for loss in LOSSES for out in OUTPUT_ACTIVATIONS
    }


def test_an_xla_compiled_population_trains_as_alone(small: Dataset) -> None:
    # mnist-mini is too short for the automatic choice to compile with XLA (the sweeps'
    # full-MNIST populations are): force it, and compare with the solo runs, which are not
    results = train_population([c for _, c in MIXED], dataset=small, keep_models=True, jit=True)
    for (_, config), result in zip(MIXED, results, strict=True):
        assert_same_run(result, solo(config, small), small)


def test_xla_is_chosen_for_long_runs_of_small_populations(small: Dataset) -> None:
    from trainer import graph as module

    pop = Population(BASE, 2, dataset=small)
    assert not pop._xla()  # 1800 examples x 2 epochs
    long = Population(BASE.replace(epochs=math.ceil(module.XLA_MIN_EXAMPLES / 1800)), 2)
    assert long._xla() and not long._xla(module.XLA_MAX_SIZE + 1)
    assert Population(BASE, 2, dataset=small, jit=True)._xla()


def test_results_come_back_in_the_order_given(mixed: dict[str, TrainResult]) -> None:
    assert [r.config for r in mixed.values()] == [c for _, c in MIXED]
    assert all(r.model is not None for r in mixed.values())


def test_one_member_is_the_single_engine(small: Dataset) -> None:
    config = BASE.replace(optimizer="adam", learning_rate=0.01, epochs=3)
    (result,) = train_population([config], dataset=small, keep_models=True)
    assert_same_run(result, solo(config, small), small)


@pytest.mark.parametrize("hidden", [[], [12, 7]])
def test_other_architectures(small: Dataset, hidden: list[int]) -> None:
    configs = [
        BASE.replace(
            hidden_layers=hidden, activation="relu", optimizer="adam", learning_rate=0.003
        ),
        BASE.replace(
            hidden_layers=hidden, activation="tanh", optimizer="momentum", learning_rate=0.03
        ),
    ]
    results = train_population(configs, dataset=small, keep_models=True)
    for config, result in zip(configs, results, strict=True):
        assert_same_run(result, solo(config, small), small)


# --------------------------------------------------------------------------- divergence


@pytest.mark.parametrize("jit", [None, True], ids=["auto", "xla"])
def test_a_diverging_member_is_caught_and_leaks_nothing(small: Dataset, jit: bool | None) -> None:
    healthy = [
        BASE.replace(optimizer="sgd", learning_rate=0.1, activation="relu"),
        BASE.replace(optimizer="adam", learning_rate=0.003),
        BASE.replace(optimizer="sgd", learning_rate=0.05, loss="mse", output_activation="linear"),
    ]
    configs = [healthy[0], DIVERGING, healthy[1], healthy[2]]
    results = train_population(configs, dataset=small, keep_models=True, jit=jit)

    ref = solo(DIVERGING, small)
    bad = results[1]
    assert ref.outcome.label == "diverged" and ref.divergence is not None
    assert bad.outcome.label == "diverged" and bad.divergence is not None
    assert (bad.divergence.epoch, bad.divergence.batch) == (
        ref.divergence.epoch,
        ref.divergence.batch,
    )
    assert not math.isfinite(bad.divergence.loss) or not math.isfinite(bad.divergence.grad_norm)
    assert bad.divergence.last_finite_loss == pytest.approx(
        ref.divergence.last_finite_loss, rel=1e-3
    )
    assert bad.outcome.reason.startswith(
        f"diverged at epoch {ref.divergence.epoch} batch {ref.divergence.batch}"
    )
    assert len(bad.history) == len(ref.history) == ref.divergence.epoch
    assert bad.history[-1].batches == ref.history[-1].batches
    # the member keeps the weights from before the bad batch: finite, as the solo run's
    for mine, theirs in zip(bad.model.get_weights(), ref.model.get_weights(), strict=True):
        assert np.all(np.isfinite(mine))
        np.testing.assert_allclose(mine, theirs, rtol=1e-3, atol=1e-3)

    for config, result in zip([configs[0], *configs[2:]], [results[0], *results[2:]], strict=True):
        assert result.divergence is None
        assert all(np.all(np.isfinite(w)) for w in result.model.get_weights())
        assert_same_run(result, solo(config, small), small)


def test_when_every_member_diverges_the_epoch_loop_ends(small: Dataset) -> None:
    configs = [DIVERGING, DIVERGING.replace(learning_rate=5.0)]
    results = train_population(configs, dataset=small)
    for result in results:
        assert result.outcome.label == "diverged"
        assert result.divergence is not None and result.divergence.epoch == 1
        assert len(result.history) == 1
        assert result.history[0].batches == result.divergence.batch


# --------------------------------------------------------------------------- stopping


def test_on_epoch_end_stops_one_member(small: Dataset) -> None:
    configs = [BASE.replace(epochs=3, learning_rate=lr) for lr in (0.05, 0.1, 0.2)]
    seen: list[tuple[int, int]] = []

    def on_epoch_end(member: int, record: Any) -> bool:
        seen.append((member, record.epoch))
        return member == 1 and record.epoch == 1

    results = train_population(configs, dataset=small, on_epoch_end=on_epoch_end, keep_models=True)
    assert seen == [(0, 1), (1, 1), (2, 1), (0, 2), (2, 2), (0, 3), (2, 3)]
    assert [r.stopped_early for r in results] == [False, True, False]
    assert [r.epochs_run for r in results] == [3, 1, 3]
    ref = solo(configs[1], small, on_epoch_end=lambda record: True)
    assert ref.stopped_early and ref.epochs_run == 1
    assert_same_run(results[1], ref, small)
    assert_same_run(results[2], solo(configs[2], small), small)


def test_stopping_on_the_last_epoch_is_not_an_early_stop(small: Dataset) -> None:
    results = train_population(
        [BASE.replace(epochs=1)], dataset=small, on_epoch_end=lambda k, record: True
    )
    assert not results[0].stopped_early


def test_stopping_everyone_ends_training(small: Dataset) -> None:
    calls: list[int] = []

    def stop_all(member: int, record: Any) -> bool:
        calls.append(record.epoch)
        return True

    results = train_population(
        [BASE.replace(epochs=5), BASE.replace(epochs=5, seed=3, learning_rate=0.3)],
        dataset=small,
        on_epoch_end=stop_all,
    )
    assert calls == [1, 1]
    assert all(r.stopped_early and r.epochs_run == 1 for r in results)


def test_preflight_warnings_per_member(small: Dataset) -> None:
    got: dict[int, tuple[str, ...]] = {}
    configs = [
        BASE,
        BASE.replace(loss="crossentropy", output_activation="linear", learning_rate=0.01),
    ]
    results = train_population(
        configs,
        dataset=small,
        on_preflight=lambda k, warnings: got.__setitem__(k, tuple(w.code for w in warnings)),
    )
    assert set(got) == {0, 1}
    assert "crossentropy_linear_output" in got[1]
    assert "crossentropy_linear_output" not in got[0]
    assert tuple(w.code for w in results[1].warnings) == got[1]


def test_no_validation_split(small: Dataset) -> None:
    config = BASE.replace(validation_split=0.0, epochs=1)
    (result,) = train_population([config], dataset=small, keep_models=True)
    assert result.history[0].val_loss is None and result.history[0].val_accuracy is None
    assert_same_run(result, solo(config, small), small)


# --------------------------------------------------------------------------- memory


def test_traced_graphs_are_freed_after_a_population(small: Dataset) -> None:
    """A sweep trains many cohorts: none of their graphs or variables may stay alive."""
    configs = [BASE.replace(epochs=1, optimizer=o) for o in OPTIMIZERS]
    train_population(configs, dataset=small)  # warm-up
    before = live_func_graphs()
    train_population(configs, dataset=small)
    assert live_func_graphs() <= before


@pytest.mark.slow
@needs_statm
def test_thirty_cohorts_keep_rss_flat(mini: Dataset) -> None:
    """After a warm-up (allocator, kernel caches: ~10 cohorts), RSS stays flat."""
    rss: dict[int, float] = {}
    for i in range(1, 31):
        configs = [
            BASE.replace(
                epochs=1,
                seed=i,
                hidden_layers=[16 + i % 3],
                optimizer=OPTIMIZERS[(i + j) % 4],
                learning_rate=0.01 * (j + 1),
            )
            for j in range(16)
        ]
        train_population(configs, dataset=mini)
        if i in (10, 30):
            gc.collect()
            rss[i] = rss_mb()
    growth = rss[30] - rss[10]
    assert growth < 50, f"RSS grew {growth:.1f} MB over 20 cohorts: {rss}"


# --------------------------------------------------------------------------- full MNIST


@pytest.mark.slow
def test_nielsen_learning_rate_cohort_on_full_mnist(mnist: Dataset) -> None:
    """5400 steps of Nielsen's net: rounding differences (batched vs plain matmul kernels)
    grow with the learning rate, as between any two float32 runs, so the equivalence is
    strict at small rates and loose at lr 3 (where saturated sigmoids amplify them)."""
    base = BASE.replace(**NIELSEN_NET, epochs=1, dataset="mnist", seed=0)
    configs = [base.replace(learning_rate=lr) for lr in (0.3, 0.5, 3.0)]
    results = train_population(configs, dataset=mnist, keep_models=True)
    for config, result in zip(configs[:2], results[:2], strict=True):
        assert_same_run(result, solo(config, mnist), mnist)
    ref = solo(configs[2], mnist)
    assert results[2].test_accuracy > 0.8
    assert abs(results[2].test_accuracy - ref.test_accuracy) < 0.01
    np.testing.assert_allclose(results[2].history[0].loss, ref.history[0].loss, rtol=0.01)


# --------------------------------------------------------------------------- slots


def _recycle(
    pop: Population, queue: list[tuple[int, TrainConfig]], stop: set[tuple[int, int]] = frozenset()
) -> tuple[dict[int, TrainResult], list[list[int]]]:
    """Run ``pop`` as a sweep does: refill free slots from ``queue`` at every epoch
    boundary; ``stop`` holds ``(key, epoch)`` pairs at which a member is stopped.
    Returns the results and, per epoch, the keys of the members that trained in it."""
    queue = list(queue)
    results: dict[int, TrainResult] = {}
    trained: list[list[int]] = []
    while queue or pop.live:
        while queue and pop.free:
            key, config = queue.pop(0)
            pop.add(config, key=key)
        trained.append(sorted(m.key for m in pop.members if m is not None))
        results.update(pop.run_epoch(lambda key, record: (key, record.epoch) in stop))
    return results, trained


def test_a_member_of_a_busy_recycling_population_trains_as_alone(small: Dataset) -> None:
    """Members with their own seeds and epoch counts come and go through 3 slots, each
    starting in whatever slot is free next to members at other epochs: every one equals
    its solo run (its own batch order, its own optimizer state from zero)."""
    configs = [
        BASE.replace(seed=5, epochs=1, optimizer="adam", learning_rate=0.003),
        BASE.replace(seed=6, epochs=3, optimizer="momentum", learning_rate=0.02, momentum=0.9),
        BASE.replace(seed=7, epochs=2, activation="relu", learning_rate=0.2),
        BASE.replace(seed=5, epochs=2, optimizer="rmsprop", learning_rate=0.001),
        BASE.replace(seed=8, epochs=3, loss="mse", output_activation="sigmoid", learning_rate=0.5),
        BASE.replace(seed=6, epochs=1, optimizer="adam", learning_rate=0.003, activation="tanh"),
    ]
    pop = Population(BASE, 3, dataset=small, keep_models=True)
    results, trained = _recycle(pop, list(enumerate(configs)), stop={(2, 1)})
    # refills happen at the epoch boundary where a slot frees
    assert trained == [[0, 1, 2], [1, 3, 4], [1, 3, 4], [4, 5]]
    assert pop.live == 0 and pop.free == 3
    for key, config in enumerate(configs):
        kwargs: dict[str, Any] = {}
        if key == 2:
            kwargs["on_epoch_end"] = lambda record: True
        assert_same_run(results[key], solo(config, small, **kwargs), small)
        # and the same as in a population of one, to rounding noise: neighbours do not matter
        (alone,) = train_population(
            [config], dataset=small, keep_models=True, on_epoch_end=lambda k, r, key=key: key == 2
        )
        assert [r.loss for r in results[key].history] == pytest.approx(
            [r.loss for r in alone.history], rel=1e-6
        )
        for mine, theirs in zip(
            results[key].model.get_weights(), alone.model.get_weights(), strict=True
        ):
            np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-7)
    assert results[2].stopped_early and results[2].epochs_run == 1


def test_a_diverging_member_frees_its_slot_at_the_epoch_boundary(small: Dataset) -> None:
    """The diverging member leaves at the end of its epoch: the next member takes its
    slot from a clean state (weights, optimizer slots and step count from zero), and
    no NaN reaches it or the neighbours."""
    healthy = BASE.replace(optimizer="adam", learning_rate=0.003, epochs=3)
    follower = BASE.replace(seed=11, optimizer="adam", learning_rate=0.003, epochs=2)
    pop = Population(BASE, 2, dataset=small, keep_models=True)
    results, trained = _recycle(pop, [(0, healthy), (1, DIVERGING), (2, follower)])
    assert trained == [[0, 1], [0, 2], [0, 2]]  # the slot is reused after one epoch
    assert results[1].outcome.label == "diverged" and results[1].epochs_run == 1
    assert_same_run(results[0], solo(healthy, small), small)
    assert_same_run(results[2], solo(follower, small), small)
    assert pop.live == 0
    for var in pop.graph.variables:  # freed slots hold zeros, not the diverged member's weights
        assert not np.any(var.numpy())


def test_a_freed_slot_costs_no_training_steps_when_nobody_is_left(small: Dataset) -> None:
    pop = Population(BASE, 2, dataset=small)
    pop.add(DIVERGING.replace(epochs=5), key="bad")
    ((key, result),) = pop.run_epoch()
    assert key == "bad" and result.outcome.label == "diverged"
    assert pop.live == 0 and pop.run_epoch() == []


def test_a_config_of_another_shape_is_refused_by_a_population(small: Dataset) -> None:
    pop = Population(BASE, 2, dataset=small)
    with pytest.raises(ValueError, match="batch_size=64"):
        pop.add(BASE.replace(batch_size=64))
    pop.add(BASE)
    pop.add(BASE)
    with pytest.raises(ValueError):
        pop.add(BASE)  # full


@pytest.mark.parametrize(
    ("retrace_seconds", "sizes"),
    [
        # free slots dropped at once: 3 live; 2 (one freed); 1 + 2 new; 1
        (0.0, [3, 2, 3, 1]),
        # a new size dearer than any epoch of free slots: it only grows
        (1e9, [3, 3, 3, 3]),
    ],
)
def test_a_resizable_population_fits_its_size_to_its_members(
    small: Dataset, retrace_seconds: float, sizes: list[int]
) -> None:
    """A resizable population grows to hold its members and drops its free slots when
    they cost more than a new size over the epochs left (the live members move up, their
    weights and optimizer state with them; a new size retraces): every member still
    equals its solo run, wherever it sat."""
    configs = [
        BASE.replace(seed=5, epochs=1, optimizer="adam", learning_rate=0.003),
        BASE.replace(seed=6, epochs=3, optimizer="momentum", learning_rate=0.02, momentum=0.9),
        BASE.replace(seed=7, epochs=2, activation="relu", learning_rate=0.2),
        BASE.replace(seed=8, epochs=2, optimizer="rmsprop", learning_rate=0.001),
        BASE.replace(seed=9, epochs=1, loss="mse", output_activation="sigmoid", learning_rate=0.5),
    ]
    pop = Population(BASE, 1, dataset=small, keep_models=True, resizable=True)
    pop.retrace_seconds = retrace_seconds
    results: dict[int, TrainResult] = {}
    seen = []
    for adds in ([0, 1, 2], [], [3, 4], []):
        for key in adds:
            pop.add(configs[key], key=key)
        trained = sorted(m.key for m in pop.members if m is not None)
        results.update(pop.run_epoch())
        seen.append((pop.size, trained))
    assert seen == list(zip(sizes, [[0, 1, 2], [1, 2], [1, 3, 4], [3]], strict=True))
    assert pop.live == 0 and sorted(results) == [0, 1, 2, 3, 4]
    for key, config in enumerate(configs):
        assert_same_run(results[key], solo(config, small), small)
