"""Tests for trainer.training: the classic failures, Keras equivalence, callbacks, memory."""

from __future__ import annotations

import dataclasses
import gc
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from benchmarks._keras_reference import NIELSEN_NET, keras_reference
from tests._cases import DIVERGING_NET
from tests.trainer._memory import live_func_graphs, needs_statm, rss_mb
from trainer.config import ConfigError, TrainConfig
from trainer.data import Dataset
from trainer.model import build_model
from trainer.outcome import Outcome
from trainer.population import Population
from trainer.results import EpochRecord, TrainResult
from trainer.training import train

# --------------------------------------------------------------------------- configs

DIVERGING = {**DIVERGING_NET, "epochs": 30}  # blows up within a few batches

SYMMETRIC = {  # every weight and bias zero: the ReLU units stay identical (and dead)
    "hidden_layers": [16, 16],
    "activation": "relu",
    "output_activation": "softmax",
    "weight_init": "zeros",
    "bias_init": "zeros",
    "loss": "crossentropy",
    "optimizer": "sgd",
    "learning_rate": 0.1,
    "batch_size": 32,
    "epochs": 3,
}

SYMMETRY_FIX = {  # tiny random weights break the symmetry, bias 1 keeps the ReLUs alive
    **SYMMETRIC,
    "weight_init": "truncated_normal",
    "weight_init_scale": 0.001,
    "bias_init": "ones",
    "optimizer": "adam",
    "learning_rate": 0.001,
    "batch_size": 64,
    "epochs": 8,
}

NIELSEN = {**NIELSEN_NET, "epochs": 3}  # Nielsen's network from chapter 1 of his book

SMALL = {  # a quick, healthy run for the bookkeeping tests
    "hidden_layers": [16],
    "activation": "relu",
    "optimizer": "adam",
    "learning_rate": 0.01,
    "batch_size": 128,
    "epochs": 3,
}


def config(params: dict[str, Any], **changes: Any) -> TrainConfig:
    return TrainConfig.from_dict({**params, **changes})


def labels_of(outcome: Outcome) -> tuple[str, ...]:
    """Every label that applies (``Outcome.labels`` where it exists, else the one label)."""
    return tuple(getattr(outcome, "labels", None) or (outcome.label,))


def majority_share(labels: np.ndarray) -> float:
    return float(np.bincount(labels).max() / len(labels))


def without_time(history: tuple[EpochRecord, ...]) -> list[EpochRecord]:
    return [dataclasses.replace(r, seconds=0.0) for r in history]


def toy_dataset(n: int = 100, features: int = 12, classes: int = 4, seed: int = 1) -> Dataset:
    """Random inputs in [0, 1) with balanced labels: small enough to check step by step."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, features), dtype=np.float32)
    y = (np.arange(n) % classes).astype(np.int64)
    rng.shuffle(y)
    return Dataset("toy", x, y, x[:20], y[:20])


# --------------------------------------------------------------------------- classic failures


def test_divergence_is_caught_on_the_batch_where_it_happens(mini: Dataset) -> None:
    epochs_seen: list[int] = []
    result = train(
        config(DIVERGING),
        dataset=mini,
        on_epoch_end=lambda r: epochs_seen.append(r.epoch),
        keep_model=True,
    )
    assert result.outcome.label == "diverged"
    assert len(result.history) == 1
    record, div = result.history[0], result.divergence
    assert div is not None
    assert div.epoch == 1
    assert div.batch == record.batches
    assert 1 <= div.batch < math.ceil(9000 / 10)  # stopped inside the first epoch
    assert not (math.isfinite(div.loss) and math.isfinite(div.grad_norm))
    assert div.last_finite_loss is None or math.isfinite(div.last_finite_loss)
    reason = result.outcome.reason
    assert f"epoch {div.epoch}" in reason
    assert f"batch {div.batch}" in reason
    assert result.outcome.evidence["epoch"] == 1
    assert result.outcome.evidence["batch"] == div.batch
    # no further epochs ran: the epoch callback (which would keep going) was never reached
    assert epochs_seen == []
    assert not result.stopped_early
    # the non-finite update was not applied: the weights are those of the last good step
    assert all(np.isfinite(w).all() for w in result.model.get_weights())


def test_zero_init_relu_net_is_stuck_at_the_majority_class(mini: Dataset) -> None:
    result = train(config(SYMMETRIC), dataset=mini, keep_model=True)
    assert "stuck" in labels_of(result.outcome)
    assert result.outcome.label in ("stuck", "symmetric")
    assert result.divergence is None
    assert result.epochs_run == 3
    share = majority_share(mini.y_test)
    assert result.chance_accuracy == pytest.approx(share)
    assert result.test_accuracy == pytest.approx(share, abs=1e-6)
    assert "identical" in result.outcome.reason
    # the hidden units really are identical at the end
    for layer in result.model.layers[:-1]:
        kernel = layer.kernel.numpy()
        np.testing.assert_array_equal(kernel, np.repeat(kernel[:, :1], kernel.shape[1], axis=1))


def test_symmetry_fix_learns(mini: Dataset) -> None:
    broken = train(config(SYMMETRIC, epochs=1), dataset=mini)
    result = train(config(SYMMETRY_FIX), dataset=mini)
    assert result.outcome.label == "ok"
    assert result.test_accuracy > 2.5 * result.chance_accuracy
    assert result.test_accuracy > broken.test_accuracy + 0.2


def test_nielsen_sigmoid_net_learns_on_mini(mini: Dataset) -> None:
    result = train(config(NIELSEN), dataset=mini)
    assert result.outcome.label == "ok"
    assert result.test_accuracy > 0.8
    assert result.history[-1].val_accuracy is not None
    assert result.history[-1].val_accuracy > 0.8
    assert [r.batches for r in result.history] == [900, 900, 900]


@pytest.mark.slow
def test_nielsen_sigmoid_net_full_mnist(mnist: Dataset) -> None:
    vals: list[float] = []
    result = train(
        config(NIELSEN, epochs=30, validation_split=1 / 6),
        dataset=mnist,
        on_epoch_end=lambda r: vals.append(r.val_accuracy or 0.0),
    )
    print(f"Nielsen 784-30-10 on full MNIST: test {result.test_accuracy:.4f}, val {vals}")
    assert result.num_train == 50_000
    assert result.num_validation == 10_000
    assert result.history[0].batches == 5000
    assert result.outcome.label == "ok"
    assert result.test_accuracy >= 0.94
    assert max(vals) >= 0.94


@pytest.mark.slow
def test_symmetry_fix_full_mnist(mnist: Dataset) -> None:
    result = train(config(SYMMETRY_FIX, epochs=10, validation_split=1 / 6), dataset=mnist)
    print(f"symmetry fix 784-16-16-10 on full MNIST: test {result.test_accuracy:.4f}")
    assert result.outcome.label == "ok"
    assert result.test_accuracy >= 0.92


# --------------------------------------------------------------------------- Keras equivalence


EQUIVALENCE_CASES = [
    # (activation, output_activation, loss, optimizer, learning_rate)
    ("sigmoid", "sigmoid", "quadratic", "sgd", 3.0),
    ("sigmoid", "softmax", "crossentropy", "sgd", 0.5),
    ("relu", "softmax", "crossentropy", "adam", 0.01),
    ("relu", "linear", "mse", "momentum", 0.05),
    ("tanh", "softmax", "mse", "adam", 0.01),
    ("elu", "sigmoid", "crossentropy", "rmsprop", 0.01),
    ("sigmoid", "sigmoid", "mse", "momentum", 0.5),
    ("tanh", "linear", "quadratic", "sgd", 0.05),
    ("sigmoid", "linear", "crossentropy", "sgd", 0.1),
]


def equivalence_config(activation: str, output: str, loss: str, opt: str, lr: float) -> TrainConfig:
    return TrainConfig.from_dict(
        {
            "hidden_layers": [8, 6],
            "activation": activation,
            "output_activation": output,
            "weight_init": "glorot_uniform",
            "bias_init": "uniform",
            "bias_init_scale": 0.1,
            "loss": loss,
            "optimizer": opt,
            "learning_rate": lr,
            "momentum": 0.9,
            "batch_size": 16,  # 100 examples: 6 full batches and one of 4
            "epochs": 2,
            "seed": 3,
            "validation_split": 0.0,
        }
    )


@pytest.mark.parametrize(("activation", "output", "loss", "opt", "lr"), EQUIVALENCE_CASES)
def test_train_matches_keras_fit(
    activation: str, output: str, loss: str, opt: str, lr: float
) -> None:
    """Same initial weights and batches: ``train`` ends where Keras' own ``fit`` does."""
    data = toy_dataset()
    cfg = equivalence_config(activation, output, loss, opt, lr)
    x, y = data.x_train, data.y_train
    features, classes = data.num_features, data.num_classes
    init = build_model(cfg, features, classes).get_weights()

    result = train(cfg, dataset=data, keep_model=True)
    assert result.divergence is None
    ours = result.model.get_weights()

    reference = keras_reference(cfg, features, classes, init)
    onehot = np.eye(classes, dtype=np.float32)[y]
    rng = np.random.default_rng(cfg.seed)  # train() shuffles with this generator
    keras_losses = []
    for _ in range(cfg.epochs):
        order = rng.permutation(len(x))
        hist = reference.fit(
            x[order], onehot[order], batch_size=cfg.batch_size, epochs=1, shuffle=False, verbose=0
        )
        keras_losses.append(hist.history["loss"][0])

    for got, want, start in zip(ours, reference.get_weights(), init, strict=True):
        assert np.abs(got - start).max() > 1e-3  # the weights really moved
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose([r.loss for r in result.history], keras_losses, rtol=1e-4)
    assert [r.batches for r in result.history] == [7, 7]


@pytest.mark.parametrize(("opt", "lr"), [("sgd", 0.5), ("momentum", 0.1), ("adam", 0.01)])
def test_compiled_epoch_matches_keras_fit_in_the_given_order(opt: str, lr: float) -> None:
    """The compiled epoch takes the batches in exactly the order it is given."""
    data = toy_dataset(n=90, seed=2)
    cfg = equivalence_config("sigmoid", "softmax", "crossentropy", opt, lr)
    x, y = data.x_train, data.y_train
    features, classes = data.num_features, data.num_classes
    init = build_model(cfg, features, classes).get_weights()
    pop = Population(cfg, 1, dataset=data)
    pop.add(cfg)
    pop.flush()
    order = np.arange(len(x))[::-1].astype(np.int32)  # reversed: not the natural order
    out = pop.graph.train_epoch(order[None], np.array([True]))
    ok, batches, loss_sum, _correct, seen = (v.numpy()[0] for v in out[:5])
    assert (int(batches), bool(ok), int(seen)) == (math.ceil(90 / 16), True, 90)
    model = build_model(cfg, features, classes)
    model.set_weights([v.numpy()[0] for v in pop.graph.variables])

    reference = keras_reference(cfg, features, classes, init)
    onehot = np.eye(classes, dtype=np.float32)[y]
    hist = reference.fit(x[order], onehot[order], batch_size=16, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    assert float(loss_sum / seen) == pytest.approx(hist.history["loss"][0], rel=1e-4)

    # and a different order gives different weights: the order is really used
    other = keras_reference(cfg, features, classes, init)
    other.fit(x, onehot, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert not np.allclose(model.get_weights()[0], other.get_weights()[0], atol=1e-5)


def test_keras_reference_tells_mse_from_quadratic() -> None:
    """Negative control: the comparison above is sharp enough to see a wrong loss."""
    data = toy_dataset()
    cfg = equivalence_config("sigmoid", "sigmoid", "quadratic", "sgd", 3.0)
    init = build_model(cfg, data.num_features, data.num_classes).get_weights()
    result = train(cfg.replace(epochs=1), dataset=data, keep_model=True)
    wrong = keras_reference(cfg.replace(loss="mse"), data.num_features, data.num_classes, init)
    order = np.random.default_rng(cfg.seed).permutation(len(data.x_train))
    onehot = np.eye(data.num_classes, dtype=np.float32)[data.y_train]
    wrong.fit(data.x_train[order], onehot[order], batch_size=16, epochs=1, shuffle=False, verbose=0)
    diff = max(
        np.abs(a - b).max()
        for a, b in zip(result.model.get_weights(), wrong.get_weights(), strict=True)
    )
    assert diff > 1e-3


# --------------------------------------------------------------------------- callbacks, checks


def test_on_epoch_end_true_stops_early(mini: Dataset) -> None:
    seen: list[int] = []

    def stop_after_two(record: EpochRecord) -> bool:
        seen.append(record.epoch)
        return record.epoch == 2

    result = train(config(SMALL, epochs=5), dataset=mini, on_epoch_end=stop_after_two)
    assert seen == [1, 2]
    assert result.epochs_run == 2
    assert result.stopped_early
    assert [r.epoch for r in result.history] == [1, 2]
    assert result.summary()["stopped_early"] is True


def test_on_epoch_end_on_the_last_epoch_is_not_an_early_stop(mini: Dataset) -> None:
    result = train(config(SMALL, epochs=2), dataset=mini, on_epoch_end=lambda r: r.epoch == 2)
    assert result.epochs_run == 2
    assert not result.stopped_early


def test_falsy_callback_results_keep_training(mini: Dataset) -> None:
    answers: list[bool | None] = [None, False, None]
    calls: list[EpochRecord] = []

    def callback(record: EpochRecord) -> bool | None:
        calls.append(record)
        return answers[record.epoch - 1]

    result = train(config(SMALL, epochs=3), dataset=mini, on_epoch_end=callback)
    assert result.epochs_run == 3
    assert not result.stopped_early
    assert tuple(calls) == result.history  # the callback got exactly the recorded epochs


def test_batch_size_larger_than_the_training_set_is_a_config_error() -> None:
    data = toy_dataset(n=100)  # validation_split 0.2 leaves 80 training examples
    with pytest.raises(ConfigError) as info:
        train(config(SMALL, batch_size=81, validation_split=0.2), dataset=data)
    assert len(info.value.problems) == 1
    problem = info.value.problems[0]
    assert problem.startswith("batch_size:")
    assert "80" in problem
    assert problem.endswith("got 81")
    result = train(config(SMALL, batch_size=80, validation_split=0.2, epochs=1), dataset=data)
    assert result.history[0].batches == 1


def test_same_seed_same_history_other_seed_different(mini: Dataset) -> None:
    cfg = config(SMALL, epochs=2, weight_init="normal", weight_init_scale=0.1)
    first = train(cfg, dataset=mini)
    second = train(cfg, dataset=mini)
    other = train(cfg.replace(seed=1), dataset=mini)
    assert without_time(first.history) == without_time(second.history)
    assert first.test_accuracy == second.test_accuracy
    assert first.test_loss == second.test_loss
    assert first.history[0].loss != other.history[0].loss
    assert first.test_loss != other.test_loss


def test_epoch_records_and_result_bookkeeping(mini: Dataset) -> None:
    result = train(config(SMALL, epochs=2), dataset=mini)
    assert (result.num_train, result.num_validation) == (9000, 1000)
    assert result.epochs_run == 2
    assert result.final is result.history[-1]
    for i, record in enumerate(result.history, start=1):
        assert record.epoch == i
        assert record.batches == math.ceil(9000 / 128)
        assert 0.0 <= record.accuracy <= 1.0
        assert record.val_accuracy is not None
        assert 0.0 <= record.val_accuracy <= 1.0
        assert record.val_loss is not None and record.val_loss > 0
        assert 0 < record.grad_norm <= record.grad_norm_max
        assert record.seconds > 0
        metrics = record.metrics()
        assert {"loss", "accuracy", "val_loss", "val_accuracy", "grad_norm"} <= set(metrics)
        assert all(math.isfinite(v) for v in metrics.values())
    assert result.history[1].loss < result.history[0].loss  # it learns
    assert result.model is None  # not kept unless asked
    summary = result.summary()
    assert summary["outcome"] == result.outcome.label
    assert summary["epochs_run"] == 2
    assert summary["val_accuracy"] == result.history[-1].val_accuracy


def test_no_validation_split(mini: Dataset) -> None:
    result = train(config(SMALL, epochs=1, validation_split=0.0), dataset=mini)
    assert (result.num_train, result.num_validation) == (10_000, 0)
    assert result.history[0].val_loss is None
    assert result.history[0].val_accuracy is None
    assert "val_loss" not in result.history[0].metrics()


def test_dataset_named_in_the_config_is_loaded() -> None:
    result = train(config(SMALL, epochs=1, dataset="mnist-mini"))
    assert isinstance(result, TrainResult)
    assert result.num_train == 9000


# --------------------------------------------------------------------------- memory


def test_traced_graphs_are_freed_after_training() -> None:
    """Each train() traces new graphs; none may stay alive afterwards (a sweep runs
    thousands). The Keras optimizer's all-reduce used to pin every epoch graph."""
    data = toy_dataset()
    train(config(SMALL, epochs=1, batch_size=16), dataset=data)  # warm-up
    before = live_func_graphs()
    for opt in ("sgd", "momentum"):
        train(config(SMALL, optimizer=opt, epochs=1, batch_size=16), dataset=data)
    assert live_func_graphs() <= before


@pytest.mark.slow
@needs_statm
def test_fifty_trainings_keep_rss_flat(mini: Dataset) -> None:
    activations = ["relu", "sigmoid", "tanh", "elu"]
    optimizers = ["sgd", "momentum", "adam", "rmsprop"]
    rss: dict[int, float] = {}
    run: Callable[[int], TrainResult] = lambda i: train(  # noqa: E731
        config(
            SMALL,
            hidden_layers=[16 + i % 3, 8],
            activation=activations[i % 4],
            optimizer=optimizers[(i // 4) % 4],
            epochs=1,
            seed=i,
        ),
        dataset=mini,
    )
    for i in range(1, 51):
        run(i)
        if i in (10, 20, 30, 40, 50):
            gc.collect()
            rss[i] = rss_mb()
    growth = rss[50] - rss[10]
    print(f"RSS after runs 10..50 (MB): {rss}; growth 10->50: {growth:.1f} MB")
    assert growth < 50, f"RSS grew {growth:.1f} MB over 40 trainings: {rss}"
