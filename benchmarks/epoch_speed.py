"""Seconds per training epoch on full MNIST: Keras' default ``model.fit`` vs ``trainer.train``.

Network: Nielsen's 784-30-10 sigmoid net (sigmoid output, N(0, 1) weights and biases),
plain SGD (learning rate 3.0), quadratic loss (``0.5 * sum``; ``--loss mse`` for Keras'
``MeanSquaredError``), trained on the 50k training images (``validation_split = 1/6``
of the 60k pool, i.e. Nielsen's split).

* Keras: a ``keras.Sequential`` with the same weights, ``compile(SGD, loss)`` and
  ``fit(x, y, batch_size=B, epochs=N, verbose=0)`` with every default (shuffling on,
  ``steps_per_execution=1``). A warm-up ``fit`` on a 1,000-image slice runs first, so
  tracing is not counted; its time is reported as "keras warm-up". Epochs are timed by
  a callback (``on_epoch_begin`` to ``on_epoch_end``).
* ours: ``trainer.training.train`` for N + 1 epochs; the first epoch includes tracing
  the compiled epoch loop and is reported apart ("ours epoch 1"); the steady per-epoch
  time is the median ``EpochRecord.seconds`` of epochs 2..N+1 (Keras: the median of its
  N timed epochs; medians, because a busy machine makes single epochs spike). Those
  seconds also include our per-epoch validation pass on 10k images and the health
  probe, which Keras skips here, so the comparison is, if anything, unfair to us.

Goal (from the spec): ours / Keras <= 0.3 per epoch.

Usage (from the project root)::

    .venv/bin/python benchmarks/epoch_speed.py [MNIST_PATH] [--epochs N] [--batch-sizes 10 64]

MNIST_PATH defaults to ``$SWEEPS_MNIST_PATH``, else ``../shared/data/mnist.pkl.gz``
relative to the project root (any format ``trainer.data.load_dataset`` reads).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks._keras_reference import NIELSEN_NET, keras_reference  # noqa: E402
from trainer._tf import tf_keras  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.data import Dataset, load_dataset, train_validation_split  # noqa: E402
from trainer.model import build_model  # noqa: E402
from trainer.training import train  # noqa: E402

DEFAULT_MNIST = ROOT.parent / "shared" / "data" / "mnist.pkl.gz"
GOAL = 0.3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Per-epoch time on full MNIST: Keras model.fit vs trainer.train.",
    )
    parser.add_argument(
        "mnist",
        nargs="?",
        help=f"MNIST file or IDX directory (default: $SWEEPS_MNIST_PATH, else {DEFAULT_MNIST})",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=2,
        help="steady (post-tracing) epochs timed per engine and batch size (default 2)",
    )
    parser.add_argument(
        "--batch-sizes",
        nargs="+",
        default=["10", "64"],
        help="batch sizes, space or comma separated (default: 10 64)",
    )
    parser.add_argument(
        "--loss",
        choices=("quadratic", "mse"),
        default="quadratic",
        help="quadratic = 0.5*sum (Nielsen), mse = mean over outputs (default quadratic)",
    )
    parser.add_argument("--learning-rate", type=float, default=3.0, help="SGD step (3.0)")
    parser.add_argument("--seed", type=int, default=0, help="init and shuffling seed (0)")
    args = parser.parse_args(argv)
    try:
        args.batch_sizes = [int(b) for part in args.batch_sizes for b in part.split(",") if b]
    except ValueError:
        parser.error(f"--batch-sizes: expected integers, got {' '.join(args.batch_sizes)}")
    if not args.batch_sizes or min(args.batch_sizes) < 1:
        parser.error("--batch-sizes: expected positive integers")
    if args.epochs < 1:
        parser.error("--epochs: must be >= 1")
    return args


def resolve_mnist(arg: str | None) -> str:
    path = arg or os.environ.get("SWEEPS_MNIST_PATH") or str(DEFAULT_MNIST)
    if not Path(path).expanduser().exists():
        sys.exit(f"epoch_speed: MNIST not found at {path}; pass a path or set SWEEPS_MNIST_PATH")
    return path


def make_config(args: argparse.Namespace, batch_size: int, epochs: int) -> TrainConfig:
    return TrainConfig.from_dict(
        {
            **NIELSEN_NET,
            "loss": args.loss,
            "learning_rate": args.learning_rate,
            "batch_size": batch_size,
            "epochs": epochs,
            "seed": args.seed,
            "validation_split": 1 / 6,
        }
    )


def keras_epochs(cfg: TrainConfig, data: Dataset, epochs: int) -> tuple[list[float], float]:
    """``(seconds of each epoch, warm-up seconds)`` of Keras' default ``model.fit``."""
    _, keras = tf_keras()
    keras.backend.clear_session()
    keras.utils.set_random_seed(cfg.seed)
    x, y, _, _ = train_validation_split(data, cfg.validation_split)
    onehot = np.eye(data.num_classes, dtype=np.float32)[y]
    features, classes = data.num_features, data.num_classes
    init = build_model(cfg, features, classes).get_weights()
    model = keras_reference(cfg, features, classes, init)

    t0 = time.perf_counter()
    model.fit(x[:1000], onehot[:1000], batch_size=cfg.batch_size, epochs=1, verbose=0)
    warm_up = time.perf_counter() - t0

    class Timer(keras.callbacks.Callback):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self._start = 0.0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds.append(time.perf_counter() - self._start)

    timer = Timer()
    model.fit(x, onehot, batch_size=cfg.batch_size, epochs=epochs, verbose=0, callbacks=[timer])
    return timer.seconds, warm_up


def our_epochs(cfg: TrainConfig, data: Dataset) -> tuple[list[float], float]:
    """``(seconds of epochs 2.., seconds of epoch 1)`` of ``trainer.train``."""
    result = train(cfg, dataset=data)
    if result.divergence is not None:
        sys.exit(f"epoch_speed: our run diverged ({result.outcome.reason})")
    seconds = [r.seconds for r in result.history]
    return seconds[1:], seconds[0]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    path = resolve_mnist(args.mnist)
    tf, keras = tf_keras()
    data = load_dataset(path)
    n_train = len(train_validation_split(data, 1 / 6)[0])
    print(
        f"MNIST {path}: {n_train} training images; 784-30-10 sigmoid/sigmoid, SGD "
        f"lr={args.learning_rate:g}, loss={args.loss}; {args.epochs} timed epoch(s) each"
    )
    print(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, devices: "
        + ", ".join(d.device_type for d in tf.config.list_logical_devices())
    )
    rows = []
    for batch in args.batch_sizes:
        cfg = make_config(args, batch, args.epochs + 1)
        k_secs, k_warm = keras_epochs(cfg, data, args.epochs)
        o_secs, o_first = our_epochs(cfg, data)
        k_med, o_med = statistics.median(k_secs), statistics.median(o_secs)
        rows.append((batch, k_med, o_med, o_med / k_med, o_first, k_warm))
        print(
            f"  batch {batch}: keras epochs {[round(s, 2) for s in k_secs]}, "
            f"ours epochs 2+ {[round(s, 2) for s in o_secs]}",
            flush=True,
        )

    header = (
        "| batch | steps/epoch | keras s/epoch | ours s/epoch (epochs 2+) | ours/keras "
        "| ours epoch 1 (incl. tracing) | keras warm-up fit (1k images) |"
    )
    print()
    print(header)
    print("|" + "|".join("---:" for _ in range(7)) + "|")
    for batch, k_med, o_med, ratio, o_first, k_warm in rows:
        steps = -(-n_train // batch)
        mark = "ok" if ratio <= GOAL else "MISSED"
        print(
            f"| {batch} | {steps} | {k_med:.3f} | {o_med:.3f} | {ratio:.3f}x ({mark}) "
            f"| {o_first:.3f} | {k_warm:.3f} |"
        )
    print(f"\ngoal: ours/keras <= {GOAL}x per epoch")


if __name__ == "__main__":
    main()
