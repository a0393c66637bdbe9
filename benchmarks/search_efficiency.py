"""How soon does a sweep hold a good config? The headline space, whole commands, anytime.

The headline space (``sweep_vs_common.LARGE``: 100 trials x up to 5 epochs, full MNIST,
784-30-10; activation, init scale, learning rate, batch size {10, 32, 128}, loss) is run
as the whole command ``sweeps run space.yaml --quiet`` (process start included), in a
fresh store, for each study seed and each mode, one after another in this one run:

* ``sequential``: this checkout, ``--engine single``, TPE with the median pruner: the same
  sampler with full feedback (one trial at a time);
* ``base``: the population engine before rungs (``--base PATH``, a checkout such as
  ``git worktree add /tmp/base 974fd92``), with the space as it was timed there
  (``pruner: median``);
* ``default``: this checkout, the space without a ``pruner`` (``auto``: rungs in the
  slots with the population engine);
* ``cohort`` (``--cohort PATH``, e.g. ``b1980e1``): the cohort engine, for the wall-time
  ratio only (``--cohort-seeds``: its first N seeds; default 1).

Each trial's end is read back from the study (Optuna's ``datetime_complete``), so every
figure comes from the store, against the moment the command was launched: the wall
time, the best validation accuracy, when the best so far first reached ``--target``
(0.955), the epochs trained (the sum of every trial's), and the first trial's end. It
prints a table per run and the means over seeds per mode, and writes the anytime plot
(best so far against seconds since launch, a line per mode and seed, each trial's end a
dot) as a PNG (``--plot``).

Usage::

    python benchmarks/search_efficiency.py --base /tmp/base [--cohort /tmp/b1980e1]
        [--seeds 0 1 2] [--modes sequential base default] [--plot anytime.png]
        [--set study.cohort_size=16] [--mnist PATH]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_vs_common import DEFAULT_MNIST, LARGE, ROOT, short_commit

TARGET = 0.955
_MAIN = "import sys; from sweeps.cli import main; main(sys.argv[1:])"

# Reads a study back in the checkout that wrote it: each trial's state, value, epochs
# and end time (seconds since the epoch, local clock as Optuna stamps it).
_READER = r"""
import json, sys
import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
storage = JournalStorage(JournalFileBackend(sys.argv[1]))
study = optuna.load_study(study_name=sys.argv[2], storage=storage)
rows = []
for t in study.get_trials(deepcopy=False):
    end = t.datetime_complete.timestamp() if t.datetime_complete else None
    epochs = t.user_attrs.get("epochs_run", len(t.intermediate_values))
    rows.append({"number": t.number, "state": t.state.name, "value": t.value,
                 "end": end, "epochs": epochs, "rung": t.user_attrs.get("stopped_at_rung"),
                 "outcome": t.user_attrs.get("outcome")})
print("TRIALS " + json.dumps(rows))
"""


@dataclass
class Run:
    mode: str
    seed: int
    wall: float
    trials: list[dict[str, Any]]
    launched: float
    commit: str = ""
    curve: list[tuple[float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        best = None
        for t in sorted(self.done(), key=lambda t: t["end"]):
            if best is None or t["value"] > best:
                best = t["value"]
                self.curve.append((t["end"] - self.launched, best))

    def done(self) -> list[dict[str, Any]]:
        return [t for t in self.trials if t["state"] == "COMPLETE" and t["value"] is not None]

    @property
    def best(self) -> float | None:
        return self.curve[-1][1] if self.curve else None

    def reached(self, target: float) -> float | None:
        return next((s for s, v in self.curve if v >= target), None)

    @property
    def first_end(self) -> float | None:
        ends = [t["end"] for t in self.trials if t["end"] is not None]
        return min(ends) - self.launched if ends else None

    @property
    def epochs(self) -> int:
        return sum(int(t["epochs"] or 0) for t in self.trials)

    def count(self, state: str) -> int:
        return sum(t["state"] == state for t in self.trials)


def space_for(mode: str, seed: int, sets: list[str]) -> dict[str, Any]:
    """The headline space as ``mode`` runs it, with the study seed and ``--set``s."""
    space = copy.deepcopy(LARGE)
    study = space["study"]
    study["seed"] = seed
    study["name"] = f"headline-{mode}-{seed}"
    if mode == "default":
        for key in ("pruner", "pruner_warmup_epochs", "pruner_startup_trials"):
            study.pop(key, None)
    for item in sets if mode == "default" else []:
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        space[section][name] = yaml.safe_load(value)
    return space


def run_mode(mode: str, seed: int, checkout: Path, work: Path, mnist: str, sets: list[str]) -> Run:
    space = space_for(mode, seed, sets)
    name = space["study"]["name"]
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(space))
    root = work / f"mlruns-{name}"
    env = {**os.environ, "PYTHONPATH": str(checkout), "SWEEPS_MNIST_PATH": mnist}
    argv = [sys.executable, "-c", _MAIN, "run", str(path), "--root", str(root), "-q"]
    if mode == "sequential":
        argv += ["--engine", "single"]
    launched = time.time()
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=work)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} seed {seed} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    read = subprocess.run(
        [sys.executable, "-c", _READER, str(root / "optuna.journal"), name],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(ln for ln in read.stdout.splitlines() if ln.startswith("TRIALS "))
    return Run(mode, seed, wall, json.loads(line[7:]), launched, short_commit(checkout))


def fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def table(runs: list[Run], target: float) -> str:
    head = (
        "| mode | commit | seed | wall s | best val | best >= "
        f"{target} at s | first trial ends s | epochs trained | complete / pruned / failed |"
    )
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        lines.append(
            f"| {r.mode} | {r.commit} | {r.seed} | {r.wall:.1f} | {fmt(r.best, '.4f')} | "
            f"{fmt(r.reached(target))} | {fmt(r.first_end)} | {r.epochs} | "
            f"{r.count('COMPLETE')} / {r.count('PRUNED')} / {r.count('FAIL')} |"
        )
    return "\n".join(lines)


def means(runs: list[Run], target: float) -> str:
    lines = [
        f"| mode | seeds | mean wall s | mean best val | mean s to >= {target} (runs reaching) |"
        " mean epochs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for mode in dict.fromkeys(r.mode for r in runs):
        group = [r for r in runs if r.mode == mode]
        reached = [x for r in group if (x := r.reached(target)) is not None]
        bests = [r.best for r in group if r.best is not None]
        lines.append(
            f"| {mode} | {len(group)} | {_mean([r.wall for r in group]):.1f} | "
            f"{fmt(_mean(bests), '.4f')} | {fmt(_mean(reached))} ({len(reached)}/{len(group)}) | "
            f"{_mean([float(r.epochs) for r in group]):.0f} |"
        )
    return "\n".join(lines)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def plot(runs: list[Run], target: float, path: Path) -> None:
    """Best so far against seconds since launch: a step line per mode and seed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"sequential": "tab:blue", "base": "tab:orange", "default": "tab:green"}
    fig, ax = plt.subplots(figsize=(9, 5.5))
    styles = ["-", "--", ":", "-."]
    for r in runs:
        if not r.curve:
            continue
        xs = [s for s, _ in r.curve] + [r.wall]
        ys = [v for _, v in r.curve] + [r.curve[-1][1]]
        color = colors.get(r.mode, "tab:gray")
        label = f"{r.mode} ({r.commit}) seed {r.seed}"
        ax.step(xs, ys, where="post", color=color, ls=styles[r.seed % 4], label=label)
        dots = [(t["end"] - r.launched, t["value"]) for t in r.done()]
        ax.scatter(*zip(*dots, strict=True), s=6, color=color, alpha=0.35)
    ax.axhline(target, color="black", lw=0.8, ls=":")
    ax.set_ylim(0.90, 0.975)
    ax.set_xlabel("seconds since the command was launched")
    ax.set_ylabel("best validation accuracy so far (completed trials)")
    ax.set_title("Headline sweep: 100 trials x up to 5 epochs, full MNIST, 2 cores")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["sequential", "base", "default"],
        choices=["sequential", "base", "default", "cohort"],
    )
    parser.add_argument("--base", type=Path, help="checkout of the engine before rungs")
    parser.add_argument("--cohort", type=Path, help="checkout of the cohort engine (b1980e1)")
    parser.add_argument("--cohort-seeds", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], help="default mode: KEY=VALUE")
    parser.add_argument("--target", type=float, default=TARGET)
    parser.add_argument("--keep", type=Path, help="keep the stores (and spaces) here")
    parser.add_argument("--plot", type=Path, default=Path("search_efficiency.png"))
    parser.add_argument("--mnist", default=os.environ.get("SWEEPS_MNIST_PATH", str(DEFAULT_MNIST)))
    args = parser.parse_args(argv)
    modes = list(args.modes)
    if args.cohort is not None and "cohort" not in modes:
        modes.append("cohort")
    checkouts = {"sequential": ROOT, "default": ROOT, "base": args.base, "cohort": args.cohort}
    modes = [m for m in modes if checkouts[m] is not None]
    print(f"cores: {os.cpu_count()}  {dt.datetime.now():%Y-%m-%d %H:%M}", flush=True)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:
            for mode in modes:
                if mode == "cohort" and seed >= args.seeds[0] + args.cohort_seeds:
                    continue
                run = run_mode(mode, seed, checkouts[mode], work, args.mnist, args.set)
                runs.append(run)
                print(table([run], args.target).splitlines()[-1], flush=True)
    print()
    print(table(runs, args.target))
    print()
    print(means(runs, args.target))
    cohort = [r.wall for r in runs if r.mode == "cohort"]
    seeds = {r.seed for r in runs if r.mode == "cohort"}
    default = [r.wall for r in runs if r.mode == "default" and r.seed in seeds]
    if cohort and default:
        ratio = (_mean(default) or 0.0) / (_mean(cohort) or 1.0)
        print(f"\ndefault / cohort wall (same seeds): {ratio:.2f}x (goal <= 0.25x)")
    plot(runs, args.target, args.plot)
    print(f"\nanytime plot: {args.plot}")


if __name__ == "__main__":
    main()
