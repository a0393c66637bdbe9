"""Your own data, measured: a real table as a user brings it, and loading a large one.

* **digits**: scikit-learn's bundled 8×8 digits (1,797 × 64; scikit-learn is a dev
  dependency) written to CSV with text labels, then ``sweeps run`` on it as a whole
  command (40 trials, TPE): the best trial's validation and test accuracy. The same data
  as a pandas DataFrame through ``sweeps.run(..., data=frame)`` must give the same
  trials (``--frame`` checks it; the CSV and the frame are read into the same arrays).
* **load**: a 1,000,000 × 50 CSV (float features, an integer label) generated on the
  fly, read by :func:`trainer.inputs.dataset_for` (standard scaling) and made tensors as
  a population does: seconds, and the peak RSS the load added against the float32
  size of the array (``ru_maxrss`` of a fresh process).

Usage::

    python benchmarks/tables.py digits [--trials 40] [--frame] [--seeds 0 1 2]
    python benchmarks/tables.py load [--rows 1000000] [--cols 50]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def digits_frame() -> Any:
    import pandas as pd
    from sklearn.datasets import load_digits

    d = load_digits()
    frame = pd.DataFrame(d.data, columns=[f"px{i}" for i in range(d.data.shape[1])])
    frame["digit"] = [f"digit-{v}" for v in d.target]  # text labels, as tables have them
    return frame


def digits_space(dataset: str, trials: int, seed: int = 0) -> dict[str, Any]:
    return {
        "study": {"name": "digits", "sampler": "tpe", "seed": seed, "trials": trials},
        "params": {
            "dataset": dataset,
            "label": "digit",
            "validation_split": 0.2,
            "scale": {"type": "categorical", "choices": ["standard", "minmax"]},
            "hidden_layers": {"type": "categorical", "choices": [[32], [64], [128]]},
            "activation": {"type": "categorical", "choices": ["relu", "tanh", "sigmoid"]},
            "learning_rate": {"type": "float", "low": 0.0003, "high": 0.03, "log": True},
            "optimizer": "adam",
            "batch_size": {"type": "categorical", "choices": [16, 32, 64]},
            "epochs": 30,
        },
    }


def digits(trials: int, frame_check: bool, seeds: list[int]) -> None:
    import statistics

    print(
        "| study seed | wall (s) | COMPLETE | PRUNED | best trial | val accuracy "
        "| test accuracy |\n|---:|---:|---:|---:|---:|---:|---:|"
    )
    tests = [digits_seed(trials, frame_check and seed == seeds[0], seed) for seed in seeds]
    print(f"mean best-trial test accuracy over {len(seeds)} seed(s): {statistics.mean(tests):.4f}")


def digits_seed(trials: int, frame_check: bool, seed: int) -> float:
    import yaml

    import sweeps

    with tempfile.TemporaryDirectory() as work:
        frame = digits_frame()
        csv = Path(work, "digits.csv")
        frame.to_csv(csv, index=False)
        space = Path(work, "digits.yaml")
        space.write_text(yaml.safe_dump(digits_space(str(csv), trials, seed), sort_keys=False))
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "sweeps.cli", "run", str(space), "-q"],
            cwd=work,
            check=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
        )
        wall = time.perf_counter() - start
        result = sweeps.load("digits", root=Path(work, "mlruns"))
        best = result.best
        assert best is not None
        test = result.study.best_trial.user_attrs["test_accuracy"]
        done = result.trials
        states = done["state"].value_counts()
        print(
            f"| {seed} | {wall:.1f} | {states.get('COMPLETE', 0)} | {states.get('PRUNED', 0)} "
            f"| #{best.number} | {best.value:.4f} | {test:.4f} |"
        )
        if frame_check:
            again = sweeps.run(
                digits_space("unused", trials, seed),
                data=frame,
                root=Path(work, "frame"),
                progress=False,
            )
            same = list(again.trials["value"]) == list(done["value"])
            print(
                f"(seed {seed}) the same data as a DataFrame in Python, same trial values: {same}"
            )
        return float(test)


def load(rows: int, cols: int, scales: list[str]) -> None:
    """Generate the CSV, then load it in a fresh process and report its time and RSS."""
    import numpy as np

    with tempfile.TemporaryDirectory() as work:
        path = Path(work, "big.csv")
        rng = np.random.default_rng(0)
        header = ",".join([*(f"f{j}" for j in range(cols)), "label"])
        with open(path, "w") as fh:
            fh.write(header + "\n")
            for start in range(0, rows, 100_000):
                n = min(100_000, rows - start)
                block = rng.random((n, cols), dtype=np.float32)
                labels = rng.integers(0, 10, n)
                text = np.column_stack([block, labels]).astype(object)
                np.savetxt(fh, text, delimiter=",", fmt=["%.6f"] * cols + ["%d"])
        size_mb = path.stat().st_size / 1e6
        print(f"{rows:,} x {cols} CSV ({size_mb:.0f} MB on disk), each in a fresh process:")
        print("| scale | read + split + scale (s) | ready as tensors (s) | float32 array (MB) "
              "| peak RSS added (MB) | ratio |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|")
        for scale in scales:
            child = subprocess.run(
                [sys.executable, __file__, "_load_child", str(path), scale],
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            print(child.stdout.strip())


def _load_child(path: str, scale: str) -> None:
    import numpy as np

    from trainer.config import TrainConfig
    from trainer.inputs import dataset_for
    from trainer.tensors import data_tensors

    config = TrainConfig.from_dict({"dataset": path, "scale": scale})
    import pyarrow  # noqa: F401 - imported before the baseline: a library, not the data
    import tensorflow  # noqa: F401

    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    data = dataset_for(config)
    read = time.perf_counter() - start
    tensors = data_tensors(data, config.validation_split, 64)
    ready = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n = len(data.y_train) + len(data.y_test)
    array_mb = n * data.num_features * np.dtype(np.float32).itemsize / 1e6
    added_mb = (peak_kb - base_kb) / 1e3
    print(
        f"| {scale} | {read:.2f} | {ready:.2f} | {array_mb:.0f} | {added_mb:.0f} "
        f"| {added_mb / array_mb:.2f}x |"
    )
    del tensors


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "_load_child":
        _load_child(args[1], args[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    d = sub.add_parser("digits")
    d.add_argument("--trials", type=int, default=40)
    d.add_argument("--frame", action="store_true")
    d.add_argument("--seeds", type=int, nargs="+", default=[0])
    ld = sub.add_parser("load")
    ld.add_argument("--rows", type=int, default=1_000_000)
    ld.add_argument("--cols", type=int, default=50)
    ld.add_argument("--scale", nargs="+", default=["none", "standard"])
    ns = parser.parse_args(args)
    if ns.what == "digits":
        digits(ns.trials, ns.frame, ns.seeds)
    else:
        load(ns.rows, ns.cols, ns.scale)


if __name__ == "__main__":
    main()
