"""What saving the best trials' networks as MLflow models costs a sweep.

Two measurements, side by side in one run:

* **per model**: :func:`sweeps.store._models.save_model` of a trained 784-30-10 network on
  a local store (Keras save, MLmodel with signature and input example, artifact copy),
  ``--saves`` times, and ``mlflow.pyfunc.load_model`` + ``predict`` of one;
* **per sweep**: the default sweep as a user runs it, ``sweeps run
  search_spaces/default.yaml -q`` in a fresh directory, on this checkout and on ``--base``
  (a checkout from before models were saved, e.g. ``git worktree add /tmp/base 028baf7``),
  alternating, ``--repeats`` times each: wall time (process start included) and the
  models each sweep saved.

Usage::

    python benchmarks/model_cost.py --base /tmp/base [--repeats 3] [--saves 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "search_spaces" / "default.yaml"


def per_model(saves: int) -> tuple[list[float], float]:
    """Seconds per save, and seconds for one load + predict."""
    import mlflow
    import numpy as np

    from sweeps.store import resolve_store
    from sweeps.store._models import model_uri, save_model
    from trainer import TrainConfig, load_dataset, train
    from trainer.model import serving_model

    config = TrainConfig.from_dict({"dataset": "mnist-mini", "epochs": 1, "optimizer": "adam"})
    data = load_dataset(config.dataset)
    result = train(config, dataset=data)
    with tempfile.TemporaryDirectory() as tmp:
        store = resolve_store(root=tmp)
        client = store.mlflow
        experiment = client.create_experiment("cost", artifact_location=store.artifact_root)
        example = np.asarray(data.x_test[:5], np.float32)
        times = []
        run_id = ""
        for _ in range(saves):
            run_id = client.create_run(experiment).info.run_id
            model = serving_model(config, result.weights)
            start = time.perf_counter()
            save_model(client, run_id, model, example)
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        mlflow.pyfunc.load_model(model_uri(run_id)).predict(data.x_test[:100])
        load = time.perf_counter() - start
    return times, load


def sweep(checkout: Path) -> tuple[float, int]:
    """Wall seconds of the default sweep as a whole command, and the models it saved."""
    with tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "PYTHONPATH": str(checkout)}
        argv = [sys.executable, "-c", "import sys; from sweeps.cli import main; main(sys.argv[1:])"]
        start = time.perf_counter()
        subprocess.run([*argv, "run", str(SPACE), "-q"], env=env, cwd=work, check=True,
                       capture_output=True)  # fmt: skip
        wall = time.perf_counter() - start
        models = len(list(Path(work, "mlruns", "artifacts").glob("*/*/artifacts/model/MLmodel")))
    return wall, models


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", type=Path, required=True, help="checkout before models")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--saves", type=int, default=10)
    args = parser.parse_args(argv)

    times, load = per_model(args.saves)
    print(f"per model ({args.saves} saves of a 784-30-10 network, local store):")
    print(
        f"  save   mean {statistics.mean(times):.3f} s  min {min(times):.3f}  max {max(times):.3f}"
    )
    print(f"  first save {times[0]:.3f} s; load + predict 100 rows {load:.3f} s")

    walls: dict[str, list[float]] = {"base": [], "models": []}
    saved: list[int] = []
    for _ in range(args.repeats):
        for mode, checkout in (("base", args.base), ("models", ROOT)):
            wall, models = sweep(checkout)
            walls[mode].append(wall)
            if mode == "models":
                saved.append(models)
    print(f"\ndefault sweep (sweeps run search_spaces/default.yaml -q), {args.repeats} each:")
    print("| checkout | wall (s), each | mean | models saved |")
    print("|---|---|---:|---:|")
    for mode in ("base", "models"):
        each = ", ".join(f"{w:.1f}" for w in walls[mode])
        models = "-" if mode == "base" else ", ".join(map(str, saved))
        print(f"| {mode} | {each} | {statistics.mean(walls[mode]):.1f} | {models} |")
    ratio = statistics.mean(walls["models"]) / statistics.mean(walls["base"])
    print(f"models / base wall: {ratio:.3f}")


if __name__ == "__main__":
    main()
