"""The ``study:`` section of a search-space file -> :class:`StudySettings`.

Names the objectives (one metric, or several for a Pareto front), the sampler, pruner,
engine and budget, with their defaults, and the choices each setting accepts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sweeps.budget import parse_duration
from sweeps.space.checks import fmt, unknown_key

METRICS = {
    "val_accuracy": "maximize",
    "val_loss": "minimize",
    "accuracy": "maximize",
    "loss": "minimize",
    "params_count": "minimize",
    "seconds_per_epoch": "minimize",
}
"""Objectives and their natural directions: the last epoch's metrics, the network's
parameter count (weights and biases) and its mean training seconds per epoch."""
SAMPLERS = ("tpe", "random", "qmc", "gp", "cmaes", "nsgaii")
PRUNERS = ("auto", "asha", "median", "percentile", "hyperband", "successive_halving", "none")
"""``auto``: ``asha`` (sweeps.runner.rungs) with the population engine, ``median`` with the
single one (several objectives: ``asha`` and ``none``)."""
MULTI_PRUNERS = ("auto", "asha", "none")
"""The pruners a study of several objectives may use (Optuna's need one objective)."""
PRUNER_PEERS = ("completed", "running")
"""What the median/percentile pruners compare a trial with: the completed trials (Optuna's
rule), or also the trials running and those pruned (sweeps.store._pruners)."""
ENGINES = ("auto", "single", "population")
_STUDY_KEYS = (
    "name",
    "metric",
    "direction",
    "metrics",
    "sampler",
    "seed",
    "pruner",
    "pruner_warmup_epochs",
    "pruner_startup_trials",
    "pruner_peers",
    "reduction_factor",
    "min_epochs",
    "prune_on_signals",
    "trials",
    "engine",
    "cohort_size",
    "timeout",
    "description",
    "refined_from",
)


@dataclass(frozen=True)
class StudySettings:
    """The ``study:`` section, with defaults filled in."""

    name: str
    metric: str = "val_accuracy"
    direction: str = "maximize"
    sampler: str = "tpe"
    seed: int | None = 0
    pruner: str = "auto"
    pruner_warmup_epochs: int = 1
    pruner_startup_trials: int = 5
    pruner_peers: str = "completed"
    reduction_factor: int = 3
    """``asha``, ``successive_halving``, ``hyperband``: 1 in this many goes on at a rung."""
    min_epochs: int = 1
    """``asha``, ``successive_halving``, ``hyperband``: the first rung's epoch."""
    prune_on_signals: bool = False
    trials: int = 20
    engine: str = "auto"
    cohort_size: int | None = None
    description: str = ""
    metrics: tuple[str, ...] = ()
    timeout: float | None = None
    """Seconds after which a ``run``/``worker`` starts no new trial (``--timeout`` wins)."""
    directions: tuple[str, ...] = ()
    refined_from: str = ""
    """The study ``sweeps refine`` wrote this space from (recorded on the study and its
    parent run)."""

    @property
    def objectives(self) -> tuple[str, ...]:
        """The objective names, first one first (one name for a single-objective study)."""
        return self.metrics or (self.metric,)

    @property
    def objective_directions(self) -> tuple[str, ...]:
        return self.directions or (self.direction,)

    @property
    def multi(self) -> bool:
        """Several objectives: a multi-objective study with a Pareto front."""
        return len(self.objectives) > 1

    def pruner_for(self, engine: str) -> str:
        """The pruner that judges trials of ``engine`` (``population`` or ``single``):
        ``auto`` resolved (:data:`PRUNERS`)."""
        if self.pruner != "auto":
            return self.pruner
        if engine == "population":
            return "asha"
        return "none" if self.multi else "median"


def parse_settings(
    raw: Mapping[str, Any], default_name: str, force_name: str | None, problems: list[str]
) -> StudySettings:
    """The settings of ``raw`` (the ``study:`` mapping); each problem appended to ``problems``."""
    for key in raw:
        if key not in _STUDY_KEYS:
            problems.append(unknown_key(str(key), list(_STUDY_KEYS), "study."))
    values: dict[str, Any] = {"name": force_name or raw.get("name") or default_name}
    name = values["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append(f"study.name: must be a non-empty string, got {fmt(name)}")
    metric = raw.get("metric", "val_accuracy")
    if metric not in METRICS:
        problems.append(f"study.metric: must be one of {', '.join(METRICS)}, got {fmt(metric)}")
        metric = "val_accuracy"
    values["metric"] = metric
    direction = raw.get("direction", METRICS[metric])
    if direction not in ("maximize", "minimize"):
        problems.append(f"study.direction: must be maximize or minimize, got {fmt(direction)}")
    values["direction"] = direction
    if "metrics" in raw:
        _parse_metrics(raw, values, problems)
    _parse_options(raw, values, problems)
    try:
        return StudySettings(**values)
    except TypeError:  # pragma: no cover - guarded by the checks above
        return StudySettings(name=str(name))


def _parse_options(raw: Mapping[str, Any], values: dict[str, Any], problems: list[str]) -> None:
    """Sampler, pruner, engine, counts, seed, flags, description and timeout into ``values``."""
    for key, choices in (
        ("sampler", SAMPLERS),
        ("pruner", PRUNERS),
        ("pruner_peers", PRUNER_PEERS),
        ("engine", ENGINES),
    ):
        if key in raw:
            val = raw[key]
            val = "none" if (key == "pruner" and val in (None, False)) else val
            if val not in choices:
                problems.append(f"study.{key}: must be one of {', '.join(choices)}, got {fmt(val)}")
            values[key] = val
    for key, low in (
        ("trials", 1),
        ("pruner_warmup_epochs", 0),
        ("pruner_startup_trials", 0),
        ("cohort_size", 1),
        ("reduction_factor", 2),
        ("min_epochs", 1),
    ):
        if key in raw and raw[key] is not None:
            val = raw[key]
            if not isinstance(val, int) or isinstance(val, bool) or val < low:
                problems.append(f"study.{key}: must be an integer >= {low}, got {fmt(val)}")
            values[key] = val
    if "seed" in raw:
        seed = raw["seed"]
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            problems.append(f"study.seed: must be an integer >= 0 or null, got {fmt(seed)}")
        values["seed"] = seed
    if "prune_on_signals" in raw:
        flag = raw["prune_on_signals"]
        if not isinstance(flag, bool):
            problems.append(f"study.prune_on_signals: must be true or false, got {fmt(flag)}")
        values["prune_on_signals"] = flag
    for key in ("description", "refined_from"):
        if key in raw and raw[key] is not None:
            values[key] = str(raw[key])
    if raw.get("timeout") is not None:
        try:
            values["timeout"] = parse_duration(raw["timeout"], "study.timeout")
        except ValueError as exc:
            problems.append(str(exc))


def _parse_metrics(raw: Mapping[str, Any], values: dict[str, Any], problems: list[str]) -> None:
    """``metrics: [val_accuracy, {name: params_count, direction: minimize}, ...]``."""
    items = raw["metrics"]
    if "metric" in raw or "direction" in raw:
        problems.append("study.metrics: use either metric/direction or metrics, not both")
        return
    if not isinstance(items, list) or not items:
        problems.append(
            f"study.metrics: must be a non-empty list of metric names, got {fmt(items)}"
        )
        return
    names: list[str] = []
    directions: list[str] = []
    for i, item in enumerate(items):
        where = f"study.metrics[{i}]"
        name, direction = item, None
        if isinstance(item, Mapping):
            for key in item:
                if key not in ("name", "direction"):
                    problems.append(unknown_key(str(key), ["name", "direction"], f"{where}."))
            name, direction = item.get("name"), item.get("direction")
        if name not in METRICS:
            problems.append(f"{where}: must be one of {', '.join(METRICS)}, got {fmt(name)}")
            continue
        direction = METRICS[name] if direction is None else direction
        if direction not in ("maximize", "minimize"):
            problems.append(
                f"{where}.direction: must be maximize or minimize, got {fmt(direction)}"
            )
            continue
        if name in names:
            problems.append(f"{where}: duplicate metric {fmt(name)}")
            continue
        names.append(name)
        directions.append(direction)
    if len(names) != len(items):
        return
    values["metric"], values["direction"] = names[0], directions[0]
    if len(names) > 1:
        values["metrics"], values["directions"] = tuple(names), tuple(directions)
        pruner = raw.get("pruner", "auto")
        if pruner not in (*MULTI_PRUNERS, None, False):
            problems.append(
                "study.pruner: Optuna's pruners need a single objective; with several metrics "
                f"use asha (rungs ranked by Pareto front), auto or none, got {fmt(pruner)}"
            )
