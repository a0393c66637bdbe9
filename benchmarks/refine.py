"""Does ``sweeps refine`` pay? The headline space, refined from its own failures.

For each seed, in a fresh store, as whole commands (process start included):

1. ``sweeps run orig.yaml``: the headline space (``sweep_vs_common.LARGE``: activation,
   init scale, learning rate, batch size, loss; 784-30-10, up to 5 epochs, full MNIST),
   60 trials, the default engine and pruner (rungs in the slots);
2. ``sweeps refine orig``: the refined space (its changes are printed);
3. ``sweeps run refined.yaml``: 60 trials in the refined space;
4. ``sweeps run orig.yaml --trials 60``: 60 more trials in the original space (the same
   study, so its sampler knows the first 60, as the refined space does).

The refined study starts with the original's trials that fit in its space (copied in, not
run again), as the resumed original starts with all of its own. Then, for the 60 trials
run by 3 and by 4: the share of wasted trials (outcome diverged,
exploded, stuck or saturated), and the best validation accuracy each had reached at equal
wall time (the shorter run's, counted from each command's launch, by each trial's end as
Optuna stamped it), and at its own end. Means over the seeds; goals: the refined space
wastes <= 5 % of its trials, and its best at equal wall time is >= the original's.

Usage::

    python benchmarks/refine.py [--seeds 0 1 2] [--trials 60] [--mnist PATH] [--keep DIR]

About 4 minutes per seed on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_vs_common import DEFAULT_MNIST, LARGE, ROOT, short_commit

from sweeps.analysis.refine.evidence import WASTED_LABELS

GOAL_WASTED = 0.05


@dataclass
class Leg:
    """One command's new trials: ``(end seconds since launch, value, outcome)``."""

    name: str
    wall: float
    trials: list[tuple[float, float | None, str]]

    @property
    def wasted(self) -> float:
        return sum(o in WASTED_LABELS for _, _, o in self.trials) / max(len(self.trials), 1)

    def best_by(self, seconds: float) -> float | None:
        values = [v for end, v, _ in self.trials if v is not None and end <= seconds]
        return max(values) if values else None

    @property
    def best(self) -> float | None:
        return self.best_by(float("inf"))


def headline(seed: int, trials: int) -> dict[str, Any]:
    space = copy.deepcopy(LARGE)
    space["study"] = {"name": "orig", "sampler": "tpe", "seed": seed, "trials": trials}
    return space


def sweeps(args: list[str], work: Path, mnist: str) -> tuple[float, str]:
    """Run ``sweeps ARGS`` as a user would; its wall seconds and output."""
    env = {**os.environ, "SWEEPS_MNIST_PATH": mnist, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-c", "import sys; from sweeps.cli import main; main(sys.argv[1:])"]
    t0 = time.time()
    done = subprocess.run(
        [*cmd, *args, "--root", str(work / "mlruns")],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"sweeps {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return t0, done.stdout


def leg(work: Path, study: str, launched: float, wall: float, skip: int) -> Leg:
    """The trials of ``study`` after the first ``skip``, as seen from the store."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(work / "mlruns" / "optuna.journal")))
    s = optuna.load_study(study_name=study, storage=storage)
    rows = []
    own = [t for t in s.get_trials(deepcopy=False) if "copied_from" not in t.user_attrs]
    for t in sorted(own, key=lambda t: t.number)[skip:]:
        end = t.datetime_complete.timestamp() - launched if t.datetime_complete else wall
        value = t.value if t.state == optuna.trial.TrialState.COMPLETE else None
        rows.append((end, value, str(t.user_attrs.get("outcome", "-"))))
    return Leg(study, wall, rows)


def one_seed(seed: int, trials: int, mnist: str, work: Path) -> tuple[Leg, Leg, Leg, str]:
    work.mkdir(parents=True, exist_ok=True)
    (work / "orig.yaml").write_text(yaml.safe_dump(headline(seed, trials), sort_keys=False))
    t0, _ = sweeps(["run", "orig.yaml", "-q"], work, mnist)
    first = leg(work, "orig", t0, time.time() - t0, 0)
    _, said = sweeps(["refine", "orig", "--out", "refined.yaml"], work, mnist)
    t1, _ = sweeps(["run", "refined.yaml", "-q"], work, mnist)
    refined = leg(work, "orig-refined", t1, time.time() - t1, 0)
    t2, _ = sweeps(["run", "orig.yaml", "--trials", str(trials), "-q"], work, mnist)
    more = leg(work, "orig", t2, time.time() - t2, trials)
    return first, refined, more, said


def fmt(value: float | None, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--mnist", default=os.environ.get("SWEEPS_MNIST_PATH", str(DEFAULT_MNIST)))
    parser.add_argument("--keep", type=Path, help="Keep each seed's store under this folder.")
    args = parser.parse_args(argv)
    print(f"refine benchmark at {short_commit(ROOT)}: headline space, {args.trials} trials")
    rows = []
    for seed in args.seeds:
        work = (args.keep / f"seed{seed}") if args.keep else Path(tempfile.mkdtemp())
        first, refined, more, said = one_seed(seed, args.trials, args.mnist, work)
        equal = min(refined.wall, more.wall)
        rows.append((seed, first, refined, more, equal))
        print(f"\n--- seed {seed}: sweeps refine said\n{said.rstrip()}")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(
        "\n| seed | first 60 wasted | original +60: wasted | refined: wasted | equal wall "
        "| original best then | refined best then | original best (end, wall) "
        "| refined best (end, wall) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for seed, first, refined, more, equal in rows:
        print(
            f"| {seed} | {first.wasted:.1%} | {more.wasted:.1%} | {refined.wasted:.1%} | "
            f"{equal:.1f} s | {fmt(more.best_by(equal))} | {fmt(refined.best_by(equal))} | "
            f"{fmt(more.best)} ({more.wall:.1f} s) | {fmt(refined.best)} ({refined.wall:.1f} s) |"
        )

    def mean(values: list[float | None]) -> float:
        found = [v for v in values if v is not None]
        return sum(found) / len(found) if found else float("nan")

    waste_first = mean([r[1].wasted for r in rows])
    waste_more = mean([r[3].wasted for r in rows])
    waste_refined = mean([r[2].wasted for r in rows])
    best_more = mean([r[3].best_by(r[4]) for r in rows])
    best_refined = mean([r[2].best_by(r[4]) for r in rows])
    print(
        f"| mean | {waste_first:.1%} | {waste_more:.1%} | {waste_refined:.1%} | "
        f"{mean([r[4] for r in rows]):.1f} s | {best_more:.4f} | {best_refined:.4f} | "
        f"{mean([r[3].best for r in rows]):.4f} | {mean([r[2].best for r in rows]):.4f} |"
    )
    waste_ok = waste_refined <= GOAL_WASTED
    best_ok = best_refined >= best_more
    print(
        f"\nwasted in the refined space: {waste_refined:.1%} (goal <= {GOAL_WASTED:.0%}): "
        f"{'met' if waste_ok else 'NOT met'}; the original space wastes {waste_first:.1%} "
        f"(first {args.trials}) and {waste_more:.1%} (next {args.trials})"
    )
    print(
        f"best at equal wall time: refined {best_refined:.4f} vs original {best_more:.4f}: "
        f"{'met' if best_ok else 'NOT met'}"
    )
    return 0 if waste_ok and best_ok else 1


if __name__ == "__main__":
    sys.exit(main())
