"""Trials per hour on full MNIST: Keras ``model.fit`` vs the single engine vs populations.

Every trial is the classic 784-30-10 sigmoid MLP (mean squared error on a sigmoid
output, plain SGD), batch size 10, one epoch over the 54k training examples (validation
split 0.1, evaluated once, plus the 10k test set), with its own learning rate: a
learning-rate sweep. Measured, in this process, one after the other:

* ``model.fit``: a plain Keras model compiled with ``mse`` and ``SGD``, ``fit`` for one
  epoch with validation data, then ``evaluate`` on the test set (a couple of trials);
* ``single``: :func:`trainer.training.train` (one trial at a time, one compiled epoch);
* ``population K``: :func:`trainer.training.train_population` on cohorts of K = 1, 8,
  32 and 64 trials (time per cohort: the cost curve);

each after an untimed warm-up on 1% of the data (one-time process and shape costs that
a long sweep pays once); then the peak resident memory of a K=64 cohort (the process
peak is reset first through ``/proc/self/clear_refs`` where Linux allows it; otherwise
the lifetime peak is shown).

Usage::

    python benchmarks/sweep_throughput.py [MNIST_PATH] [--sizes 1,8,32,64]
        [--fit-trials 2] [--single-trials 3] [--fraction 1.0] [--mixed]

``MNIST_PATH`` defaults to ``$SWEEPS_MNIST_PATH``, then ``../shared/data/mnist.pkl.gz``
relative to the project root. ``--fraction F`` trains every trial on the first F of the
training pool only (for a quick look; the output says so). ``--mixed`` adds a K=64
cohort mixing sgd, momentum, adam and rmsprop.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._keras_reference import NIELSEN_NET, keras_mlp  # noqa: E402
from trainer._tf import tf_keras  # noqa: E402
from trainer.config import OPTIMIZERS, TrainConfig  # noqa: E402
from trainer.data import Dataset, load_dataset, train_validation_split  # noqa: E402

GOAL_SPEEDUP = 20.0
GOAL_MEMORY_GIB = 4.0
BASE = TrainConfig.from_dict(
    {
        **NIELSEN_NET,
        "loss": "mse",
        "epochs": 1,
        "seed": 0,
        "dataset": "mnist",
        "validation_split": 0.1,
    }
)


@dataclass
class Row:
    method: str
    trials: int
    seconds: float  # wall time of the whole measurement
    note: str = ""

    @property
    def per_trial(self) -> float:
        return self.seconds / self.trials

    @property
    def per_hour(self) -> float:
        return 3600.0 / self.per_trial


def learning_rates(k: int) -> list[float]:
    """A log-spaced learning-rate sweep (the members of a cohort)."""
    return [float(v) for v in np.geomspace(0.05, 5.0, k)] if k > 1 else [3.0]


def default_data_path() -> str:
    env = os.environ.get("SWEEPS_MNIST_PATH")
    if env:
        return env
    return str(ROOT.parent / "shared" / "data" / "mnist.pkl.gz")


def subset(data: Dataset, fraction: float) -> Dataset:
    if fraction >= 1.0:
        return data
    n = max(100, int(len(data.x_train) * fraction))
    return Dataset(
        name=f"{data.name}[:{n}]",
        x_train=data.x_train[:n],
        y_train=data.y_train[:n],
        x_test=data.x_test,
        y_test=data.y_test,
    )


# --------------------------------------------------------------------------- methods


def keras_fit_trial(config: TrainConfig, data: Dataset) -> float:
    """One trial the usual way: build, compile, ``fit`` one epoch, ``evaluate``."""
    _, keras = tf_keras()
    x_tr, y_tr, x_val, y_val = train_validation_split(data, config.validation_split)
    keras.backend.clear_session(free_memory=False)
    model = keras_mlp(config, data.num_features, data.num_classes)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=config.learning_rate),
        loss="mse",
        metrics=["accuracy"],
    )
    onehot = np.eye(data.num_classes, dtype=np.float32)
    model.fit(
        x_tr,
        onehot[y_tr],
        batch_size=config.batch_size,
        epochs=config.epochs,
        validation_data=(x_val, onehot[y_val]),
        verbose=0,
    )
    _, accuracy = model.evaluate(data.x_test, onehot[data.y_test], verbose=0)
    return float(accuracy)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def rss_now() -> float:
    """Resident memory now, bytes (Linux /proc), else the lifetime peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return peak_rss()


def peak_rss() -> float:
    """Peak resident memory, bytes: VmHWM where readable, else getrusage's ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def reset_peak() -> bool:
    """Reset the process's peak-RSS mark (Linux >= 4.0); ``False`` where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _load() -> str:
    try:
        return "/".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=None, help="full MNIST file or directory")
    parser.add_argument("--sizes", default="1,8,32,64", help="population sizes to time")
    parser.add_argument("--fit-trials", type=int, default=2)
    parser.add_argument("--single-trials", type=int, default=3)
    parser.add_argument("--fraction", type=float, default=1.0, help="share of the training pool")
    parser.add_argument("--mixed", action="store_true", help="add a K=64 mixed-optimizer cohort")
    args = parser.parse_args(argv)

    from trainer.training import train, train_population

    tf, _ = tf_keras()
    path = args.data or default_data_path()
    full = load_dataset(path)
    data = subset(full, args.fraction)
    x_tr, _, x_val, _ = train_validation_split(data, BASE.validation_split)
    steps = -(-len(x_tr) // BASE.batch_size)
    print(f"data: {path} ({len(full.x_train)} train+val / {len(full.x_test)} test)")
    scope = "full epoch" if args.fraction >= 1.0 else f"FRACTION {args.fraction:g} of an epoch"
    print(
        f"trial: 784-30-10 sigmoid, mse, SGD, batch {BASE.batch_size}, 1 epoch = {steps} steps "
        f"({scope}: {len(x_tr)} train, {len(x_val)} validation, {len(data.x_test)} test)"
    )
    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, "
        f"threads intra={tf.config.threading.get_intra_op_parallelism_threads() or 'auto'}, "
        f"load average {_load()}"
    )

    # Warm up TensorFlow (runtime, kernels, allocator) on 1% of the data so that no
    # method is charged one-time costs a long sweep would pay only once per process.
    warm = subset(full, 0.01)
    keras_fit_trial(BASE, warm)
    train(BASE, dataset=warm)

    rows: list[Row] = []
    seconds = 0.0
    for i in range(args.fit_trials):
        config = BASE.replace(learning_rate=learning_rates(args.fit_trials)[i])
        dt, _ = timed(lambda c=config: keras_fit_trial(c, data))  # type: ignore[misc]
        seconds += dt
        print(f"  model.fit trial {i + 1}: {dt:.2f}s", flush=True)
    rows.append(Row("Keras model.fit (sequential)", args.fit_trials, seconds))

    seconds = 0.0
    for i in range(args.single_trials):
        config = BASE.replace(learning_rate=learning_rates(args.single_trials)[i])
        dt, _ = timed(lambda c=config: train(c, dataset=data))  # type: ignore[misc]
        seconds += dt
        print(f"  single engine trial {i + 1}: {dt:.2f}s", flush=True)
    rows.append(Row("single engine (train)", args.single_trials, seconds))

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    memory: tuple[float, float, bool] | None = None
    for k in sizes:
        configs = [BASE.replace(learning_rate=lr) for lr in learning_rates(k)]
        train_population(configs, dataset=warm)  # warm-up at this size
        before = rss_now()
        reset = reset_peak() if k == max(sizes) else False
        dt, results = timed(lambda cs=configs: train_population(cs, dataset=data))  # type: ignore[misc]
        if k == max(sizes):
            memory = (peak_rss(), before, reset)
        labels = sorted({r.outcome.label for r in results})
        best = max(r.test_accuracy for r in results)
        note = f"best test acc {best:.4f}; outcomes {'/'.join(labels)}"
        print(f"  population K={k}: {dt:.2f}s per cohort ({note})", flush=True)
        rows.append(Row(f"population K={k}", k, dt, note))
    if args.mixed:
        k = 64
        configs = [
            BASE.replace(learning_rate=lr, optimizer=OPTIMIZERS[i % len(OPTIMIZERS)])
            for i, lr in enumerate(learning_rates(k))
        ]
        train_population(configs, dataset=warm)
        dt, _ = timed(lambda cs=configs: train_population(cs, dataset=data))  # type: ignore[misc]
        print(f"  population K=64 mixed optimizers: {dt:.2f}s", flush=True)
        rows.append(Row("population K=64 (sgd/momentum/adam/rmsprop)", k, dt))

    fit = rows[0]
    print()
    if args.fraction < 1.0:
        print(
            f"NOTE: trials ran on a FRACTION ({args.fraction:g}) of the epoch; "
            "per-trial times and trials/hour are for that shortened trial."
        )
    header = (
        f"{'method':46s} {'trials':>6s} {'s/cohort':>9s} {'s/trial':>8s} "
        f"{'trials/hour':>11s} {'vs fit':>7s}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.method:46s} {row.trials:6d} {row.seconds:9.2f} {row.per_trial:8.3f} "
            f"{row.per_hour:11.0f} {row.per_hour / fit.per_hour:6.1f}x"
        )
    best_row = max(rows[2:], key=lambda r: r.per_hour, default=None)
    if best_row is not None:
        speedup = best_row.per_hour / fit.per_hour
        verdict = "met" if speedup >= GOAL_SPEEDUP else "NOT met"
        print(
            f"\nbest: {best_row.method}, {speedup:.1f}x model.fit "
            f"(goal >= {GOAL_SPEEDUP:g}x: {verdict})"
        )
    print(f"load average at the end: {_load()} (other processes share these CPUs)")
    if memory is not None:
        peak, before, reset = memory
        gib = peak / 2**30
        verdict = "met" if gib < GOAL_MEMORY_GIB else "NOT met"
        how = "peak since reset" if reset else "process lifetime peak (reset not allowed)"
        print(
            f"memory, K={max(sizes)}: peak RSS {gib:.2f} GiB ({how}; RSS before the cohort "
            f"{before / 2**30:.2f} GiB) (goal < {GOAL_MEMORY_GIB:g} GiB: {verdict})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
