"""Search-space files: ``search_spaces/*.yaml`` -> a validated :class:`SearchSpace`.

A file has two sections::

    study:   {name, metric, direction, sampler, seed, pruner, trials, ...}
    params:  {<trainer parameter>: <fixed value> | {type: float|int|categorical, ...}}

``hidden_layers`` may also be a depth x width space, sampled define-by-run (a layer that
does not exist in a trial never reaches the sampler)::

    hidden_layers: {depth: {low: 1, high: 3}, width: {low: 16, high: 256, log: true},
                    per_layer: true}

Every problem in a file is collected with its key path (``params.learning_rate.low``)
and reported at once. Choices and bounds are also checked against the trainer's own
rules, so a sweep never starts with a value that every trial would reject.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from sweeps.budget import parse_duration
from sweeps.errors import UserError
from sweeps.files import read_mapping
from trainer.config import DEFAULTS, FIELD_NAMES, ConfigError, TrainConfig, validate_field

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
PRUNERS = ("median", "percentile", "hyperband", "successive_halving", "none")
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
    "prune_on_signals",
    "trials",
    "engine",
    "cohort_size",
    "timeout",
    "description",
)
_SPEC_KEYS = {
    "float": ("type", "low", "high", "log", "step"),
    "int": ("type", "low", "high", "step", "log"),
    "categorical": ("type", "choices"),
}


@dataclass(frozen=True)
class StudySettings:
    """The ``study:`` section, with defaults filled in."""

    name: str
    metric: str = "val_accuracy"
    direction: str = "maximize"
    sampler: str = "tpe"
    seed: int | None = 0
    pruner: str = "median"
    pruner_warmup_epochs: int = 1
    pruner_startup_trials: int = 5
    pruner_peers: str = "completed"
    prune_on_signals: bool = False
    trials: int = 20
    engine: str = "auto"
    cohort_size: int | None = None
    description: str = ""
    metrics: tuple[str, ...] = ()
    timeout: float | None = None
    """Seconds after which a ``run``/``worker`` starts no new trial (``--timeout`` wins)."""
    directions: tuple[str, ...] = ()

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


LAYER_DEPTH_PARAM = "n_layers"
LAYER_WIDTH_PARAM = "width"
"""Optuna parameter names of a depth x width space: ``n_layers``, then ``width`` (shared)
or ``width_0`` .. ``width_{n-1}`` (one per existing layer)."""
_LAYER_KEYS = ("depth", "width", "per_layer")
_DEPTH_KEYS = ("low", "high")
_WIDTH_KEYS = ("low", "high", "log", "step", "choices")


@dataclass(frozen=True)
class LayerSpace:
    """``hidden_layers`` as a number of layers and their widths (conditional parameters)."""

    depth_low: int
    depth_high: int
    width: BaseDistribution
    per_layer: bool = True

    def suggest(self, trial: optuna.Trial) -> tuple[int, ...]:
        """Sample the depth, then one width per existing layer (or one shared width)."""
        depth = trial.suggest_int(LAYER_DEPTH_PARAM, self.depth_low, self.depth_high)
        if not self.per_layer:
            return (_suggest_width(trial, LAYER_WIDTH_PARAM, self.width),) * depth
        return tuple(
            _suggest_width(trial, f"{LAYER_WIDTH_PARAM}_{i}", self.width) for i in range(depth)
        )

    def decode(self, suggested: Mapping[str, Any]) -> tuple[int, ...] | None:
        """The architecture from sampled values, ``None`` when they hold no depth."""
        if LAYER_DEPTH_PARAM not in suggested:
            return None
        depth = int(suggested[LAYER_DEPTH_PARAM])
        if not self.per_layer:
            return (int(suggested[LAYER_WIDTH_PARAM]),) * depth
        return tuple(int(suggested[f"{LAYER_WIDTH_PARAM}_{i}"]) for i in range(depth))

    def is_param(self, name: str) -> bool:
        return name == LAYER_DEPTH_PARAM or name.startswith(LAYER_WIDTH_PARAM)

    def architecture_count(self) -> float:
        """How many distinct architectures the space holds (``inf`` when huge)."""
        if isinstance(self.width, CategoricalDistribution):
            n = float(len(self.width.choices))
        else:
            assert isinstance(self.width, IntDistribution)
            n = float((self.width.high - self.width.low) // self.width.step + 1)
        depths = range(self.depth_low, self.depth_high + 1)
        return float(sum(n ** (d if self.per_layer else 1) for d in depths))

    def largest(self) -> tuple[int, ...]:
        """The widest, deepest architecture (memory sizing of a population)."""
        if isinstance(self.width, CategoricalDistribution):
            top = max(int(c) for c in self.width.choices)  # type: ignore[arg-type]
        else:
            assert isinstance(self.width, IntDistribution)
            top = self.width.high
        return (top,) * self.depth_high

    def to_json(self) -> dict[str, Any]:
        return {
            "depth": [self.depth_low, self.depth_high],
            "width": optuna.distributions.distribution_to_json(self.width),
            "per_layer": self.per_layer,
        }


def _suggest_width(trial: optuna.Trial, name: str, dist: BaseDistribution) -> int:
    if isinstance(dist, CategoricalDistribution):
        return int(trial.suggest_categorical(name, dist.choices))  # type: ignore[arg-type]
    assert isinstance(dist, IntDistribution)
    return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)


@dataclass(frozen=True)
class SearchSpace:
    """Study settings, Optuna distributions for swept params, and the fixed params."""

    settings: StudySettings
    distributions: dict[str, BaseDistribution]
    fixed: dict[str, Any]
    source: str = ""
    _encoded: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    layers: LayerSpace | None = None

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Sample an asked trial's conditional parameters (the depth x width space) and
        return its full parameter dict; every place that asks a trial goes through here."""
        if self.layers is not None:
            self.layers.suggest(trial)
        return self.params_for(trial.params)

    def params_for(self, suggested: Mapping[str, Any]) -> dict[str, Any]:
        """Full parameter dict for a trial: defaults <- fixed <- suggested (decoded)."""
        params = dict(DEFAULTS)
        params.update(self.fixed)
        for name, value in suggested.items():
            if self.layers is not None and self.layers.is_param(name):
                continue
            params[name] = self._encoded.get(name, {}).get(value, value)
        if self.layers is not None:
            arch = self.layers.decode(suggested)
            if arch is not None:
                params["hidden_layers"] = list(arch)
        return params

    def config_for(self, suggested: Mapping[str, Any]) -> TrainConfig:
        return TrainConfig.from_dict(self.params_for(suggested))

    def fingerprint(self) -> str:
        """Stable JSON of what makes two spaces compatible (used when resuming)."""
        dists = {
            n: optuna.distributions.distribution_to_json(d)
            for n, d in sorted(self.distributions.items())
        }
        extra: dict[str, Any] = {}  # only what is new, so older studies still resume
        if self.settings.multi:
            extra = {"metrics": self.settings.metrics, "directions": self.settings.directions}
        if self.layers is not None:
            extra["layers"] = self.layers.to_json()
        return json.dumps(
            {
                **extra,
                "distributions": dists,
                "fixed": self.fixed,
                "metric": self.settings.metric,
                "direction": self.settings.direction,
            },
            sort_keys=True,
            default=str,
        )


def load_space(path: str | Path, *, name: str | None = None) -> SearchSpace:
    """Read and validate a search-space file; ``name`` overrides ``study.name``."""
    p = Path(path)
    raw = read_mapping(p, "search space")
    return parse_space(raw, default_name=name or p.stem, source=str(p), force_name=name)


def parse_space(
    raw: Mapping[str, Any],
    *,
    default_name: str = "study",
    source: str = "",
    force_name: str | None = None,
) -> SearchSpace:
    """Validate an already-parsed mapping; raise :class:`UserError` listing every problem."""
    problems: list[str] = []
    for key in raw:
        if key not in ("study", "params"):
            problems.append(_unknown(str(key), ["study", "params"], ""))
    study_raw = raw.get("study") or {}
    params_raw = raw.get("params")
    if not isinstance(study_raw, Mapping):
        problems.append(f"study: must be a mapping, got {_fmt(study_raw)}")
        study_raw = {}
    if not isinstance(params_raw, Mapping) or not params_raw:
        problems.append(f"params: must be a non-empty mapping, got {_fmt(params_raw)}")
        params_raw = {}

    settings = _parse_settings(study_raw, default_name, force_name, problems)
    distributions: dict[str, BaseDistribution] = {}
    fixed: dict[str, Any] = {}
    encoded: dict[str, dict[str, Any]] = {}
    layers: LayerSpace | None = None
    for name, spec in params_raw.items():
        path = f"params.{name}"
        if name not in FIELD_NAMES:
            problems.append(_unknown(str(name), list(FIELD_NAMES), "params."))
            continue
        if name == "hidden_layers" and isinstance(spec, Mapping) and "type" not in spec:
            layers = _parse_layers(spec, path, problems)
        elif isinstance(spec, Mapping):
            dist, codes = _parse_spec(str(name), spec, path, problems)
            if dist is not None:
                distributions[str(name)] = dist
                if codes:
                    encoded[str(name)] = codes
        else:
            value, error = validate_field(str(name), spec)
            if error:
                problems.append(f"{path}: {error.split(': ', 1)[1]}")
            else:
                fixed[str(name)] = _plain(value)
    if not problems:
        problems.extend(_sampler_problems(settings, distributions, layers))
    if not problems:
        try:  # the fixed values together (and defaults) must make a valid config
            TrainConfig.from_dict({**DEFAULTS, **fixed})
        except ConfigError as exc:
            problems.extend(f"params.{p}" for p in exc.problems)
    if problems:
        where = f"search space '{source}'" if source else "search space"
        raise UserError(f"{where}: {len(problems)} problem(s)", [f"{where}: {p}" for p in problems])
    return SearchSpace(settings, distributions, fixed, source, encoded, layers)


def _parse_layers(spec: Mapping[str, Any], path: str, problems: list[str]) -> LayerSpace | None:
    """``{depth: {low, high}, width: {low, high, log, step} | {choices}, per_layer}``."""
    before = len(problems)
    for key in spec:
        if key not in _LAYER_KEYS:
            problems.append(_unknown(str(key), list(_LAYER_KEYS), f"{path}."))
    depth, width = spec.get("depth"), spec.get("width")
    for key, val in (("depth", depth), ("width", width)):
        if not isinstance(val, Mapping):
            problems.append(
                f"{path}.{key}: must be a mapping such as {{low: 1, high: 3}}, got {_fmt(val)}"
            )
    per_layer = spec.get("per_layer", True)
    if not isinstance(per_layer, bool):
        problems.append(f"{path}.per_layer: must be true or false, got {_fmt(per_layer)}")
    if len(problems) > before:
        return None
    assert isinstance(depth, Mapping) and isinstance(width, Mapping)
    for key in depth:
        if key not in _DEPTH_KEYS:
            problems.append(_unknown(str(key), list(_DEPTH_KEYS), f"{path}.depth."))
    for key in width:
        if key not in _WIDTH_KEYS:
            problems.append(_unknown(str(key), list(_WIDTH_KEYS), f"{path}.width."))
    d_low: Any = depth.get("low")
    d_high: Any = depth.get("high")
    for key, val in (("low", d_low), ("high", d_high)):
        if not isinstance(val, int) or isinstance(val, bool) or not 1 <= val <= 16:
            problems.append(f"{path}.depth.{key}: must be an integer from 1 to 16, got {_fmt(val)}")
    if len(problems) == before and d_low > d_high:
        problems.append(f"{path}.depth: low must be <= high, got low={d_low} high={d_high}")
    dist: BaseDistribution | None
    if "choices" in width:
        extra = [k for k in width if k != "choices"]
        if extra:
            problems.append(f"{path}.width: choices cannot be used with {', '.join(extra)}")
        choices = width["choices"]
        if (
            not isinstance(choices, list)
            or not choices
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in choices)
            or not all(1 <= c <= 100_000 for c in choices)
            or len(set(choices)) != len(choices)
        ):
            problems.append(
                f"{path}.width.choices: must be distinct integers from 1 to 100000, "
                f"got {_fmt(choices)}"
            )
        dist = None if len(problems) > before else CategoricalDistribution(list(choices))
    else:
        dist, _ = _parse_spec(
            "width", {"type": "int", **width}, f"{path}.width", problems, trainer=False
        )
        if isinstance(dist, IntDistribution) and not 1 <= dist.low <= dist.high <= 100_000:
            problems.append(
                f"{path}.width: must lie from 1 to 100000 units, "
                f"got low={dist.low} high={dist.high}"
            )
    if len(problems) > before or dist is None:
        return None
    return LayerSpace(int(d_low), int(d_high), dist, per_layer)


def _parse_settings(
    raw: Mapping[str, Any], default_name: str, force_name: str | None, problems: list[str]
) -> StudySettings:
    for key in raw:
        if key not in _STUDY_KEYS:
            problems.append(_unknown(str(key), list(_STUDY_KEYS), "study."))
    values: dict[str, Any] = {"name": force_name or raw.get("name") or default_name}
    name = values["name"]
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        problems.append(f"study.name: must be a non-empty string, got {_fmt(name)}")
    metric = raw.get("metric", "val_accuracy")
    if metric not in METRICS:
        problems.append(f"study.metric: must be one of {', '.join(METRICS)}, got {_fmt(metric)}")
        metric = "val_accuracy"
    values["metric"] = metric
    direction = raw.get("direction", METRICS[metric])
    if direction not in ("maximize", "minimize"):
        problems.append(f"study.direction: must be maximize or minimize, got {_fmt(direction)}")
    values["direction"] = direction
    if "metrics" in raw:
        _parse_metrics(raw, values, problems)
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
                problems.append(
                    f"study.{key}: must be one of {', '.join(choices)}, got {_fmt(val)}"
                )
            values[key] = val
    for key, low in (
        ("trials", 1),
        ("pruner_warmup_epochs", 0),
        ("pruner_startup_trials", 0),
        ("cohort_size", 1),
    ):
        if key in raw and raw[key] is not None:
            val = raw[key]
            if not isinstance(val, int) or isinstance(val, bool) or val < low:
                problems.append(f"study.{key}: must be an integer >= {low}, got {_fmt(val)}")
            values[key] = val
    if "seed" in raw:
        seed = raw["seed"]
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            problems.append(f"study.seed: must be an integer >= 0 or null, got {_fmt(seed)}")
        values["seed"] = seed
    if "prune_on_signals" in raw:
        flag = raw["prune_on_signals"]
        if not isinstance(flag, bool):
            problems.append(f"study.prune_on_signals: must be true or false, got {_fmt(flag)}")
        values["prune_on_signals"] = flag
    if "description" in raw:
        values["description"] = str(raw["description"])
    if raw.get("timeout") is not None:
        try:
            values["timeout"] = parse_duration(raw["timeout"], "study.timeout")
        except ValueError as exc:
            problems.append(str(exc))
    try:
        return StudySettings(**values)
    except TypeError:  # pragma: no cover - guarded by the checks above
        return StudySettings(name=str(name))


def _sampler_problems(
    settings: StudySettings, distributions: Mapping[str, BaseDistribution], layers: Any
) -> list[str]:
    """What the chosen sampler cannot handle in this space, one line each.

    ``cmaes`` models numbers only and one objective; ``nsgaii`` is for several objectives;
    ``gp`` needs torch (Optuna's GPSampler imports it), which sweeps does not install."""
    name = settings.sampler
    got = f"got {name!r}"
    numeric = layers is not None or any(
        not isinstance(d, CategoricalDistribution) for d in distributions.values()
    )
    if name == "cmaes" and settings.multi:
        return [f"study.sampler: cmaes handles a single objective (use nsgaii or tpe), {got}"]
    if name == "cmaes" and not numeric:
        return [
            "study.sampler: cmaes needs at least one float or int parameter, the space sweeps "
            f"only categorical ones (use tpe or random), {got}"
        ]
    if name == "nsgaii" and not settings.multi:
        return [f"study.sampler: nsgaii needs several study.metrics (use tpe), {got}"]
    if name == "gp" and importlib.util.find_spec("torch") is None:
        return [f"study.sampler: gp needs torch: pip install torch (or use tpe), {got}"]
    return []


def _parse_metrics(raw: Mapping[str, Any], values: dict[str, Any], problems: list[str]) -> None:
    """``metrics: [val_accuracy, {name: params_count, direction: minimize}, ...]``."""
    items = raw["metrics"]
    if "metric" in raw or "direction" in raw:
        problems.append("study.metrics: use either metric/direction or metrics, not both")
        return
    if not isinstance(items, list) or not items:
        problems.append(
            f"study.metrics: must be a non-empty list of metric names, got {_fmt(items)}"
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
                    problems.append(_unknown(str(key), ["name", "direction"], f"{where}."))
            name, direction = item.get("name"), item.get("direction")
        if name not in METRICS:
            problems.append(f"{where}: must be one of {', '.join(METRICS)}, got {_fmt(name)}")
            continue
        direction = METRICS[name] if direction is None else direction
        if direction not in ("maximize", "minimize"):
            problems.append(
                f"{where}.direction: must be maximize or minimize, got {_fmt(direction)}"
            )
            continue
        if name in names:
            problems.append(f"{where}: duplicate metric {_fmt(name)}")
            continue
        names.append(name)
        directions.append(direction)
    if len(names) != len(items):
        return
    values["metric"], values["direction"] = names[0], directions[0]
    if len(names) > 1:
        values["metrics"], values["directions"] = tuple(names), tuple(directions)
        pruner = raw.get("pruner", "none")
        if pruner not in ("none", None, False):
            problems.append(
                "study.pruner: Optuna's pruners need a single objective; use none with "
                "several metrics (divergence and prune_on_signals still stop bad trials), "
                f"got {_fmt(pruner)}"
            )
        values["pruner"] = "none"


def _parse_spec(
    name: str, spec: Mapping[str, Any], path: str, problems: list[str], *, trainer: bool = True
) -> tuple[BaseDistribution | None, dict[str, Any]]:
    kind = spec.get("type")
    if kind not in _SPEC_KEYS:
        problems.append(f"{path}.type: must be float, int or categorical, got {_fmt(kind)}")
        return None, {}
    before = len(problems)
    for key in spec:
        if key not in _SPEC_KEYS[kind]:
            problems.append(_unknown(str(key), list(_SPEC_KEYS[kind]), f"{path}."))
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            problems.append(f"{path}.choices: must be a non-empty list, got {_fmt(choices)}")
            return None, {}
        codes: dict[str, Any] = {}
        plain: list[Any] = []
        for i, choice in enumerate(choices):
            value, error = validate_field(name, choice)
            if error:
                problems.append(f"{path}.choices[{i}]: {error.split(': ', 1)[1]}")
                continue
            value = _plain(value)
            if isinstance(value, list):  # Optuna choices must be scalars: encode as JSON
                code = json.dumps(value)
                codes[code] = value
                value = code
            if value in plain:
                problems.append(f"{path}.choices[{i}]: duplicate choice {_fmt(choice)}")
            plain.append(value)
        if len(problems) > before:
            return None, {}
        return CategoricalDistribution(plain), codes

    low: Any = spec.get("low")
    high: Any = spec.get("high")
    step: Any = spec.get("step")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        problems.append(f"{path}.log: must be true or false, got {_fmt(log)}")
    for key, val in (("low", low), ("high", high)):
        if not _is_number(val) or (kind == "int" and not float(val).is_integer()):
            want = "an integer" if kind == "int" else "a finite number"
            problems.append(f"{path}.{key}: must be {want}, got {_fmt(val)}")
    if step is not None and (not _is_number(step) or step <= 0):
        problems.append(f"{path}.step: must be > 0, got {_fmt(step)}")
    if len(problems) > before:
        return None, {}
    if low > high:
        problems.append(f"{path}: low must be <= high, got low={low} high={high}")
    if log is True and low <= 0:
        problems.append(f"{path}.low: must be > 0 when log is true, got {low}")
    if log is True and step is not None:
        problems.append(f"{path}: step and log cannot be used together, got step={step}")
    if len(problems) > before:
        return None, {}
    for key, val in (("low", low), ("high", high)) if trainer else ():
        _, error = validate_field(name, int(val) if kind == "int" else float(val))
        if error:
            problems.append(f"{path}.{key}: {error.split(': ', 1)[1]}")
    if len(problems) > before:
        return None, {}
    if kind == "int":
        return IntDistribution(int(low), int(high), log=log, step=int(step or 1)), {}
    return FloatDistribution(
        float(low), float(high), log=log, step=None if step is None else float(step)
    ), {}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _unknown(key: str, known: list[str], prefix: str) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{prefix}{key}: unknown key{hint}"
