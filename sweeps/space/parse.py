"""A search-space file -> :class:`SearchSpace`, with every problem reported at once.

Reads the two sections (``study:`` and ``params:``), sends each swept parameter to its
parser, checks fixed values with the trainer's own rules, and checks that the chosen
sampler can handle the space. Each problem is one line with its key path
(``params.learning_rate.low``); all of them end up in one :class:`UserError`."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution

from sweeps.errors import UserError
from sweeps.files import read_mapping
from sweeps.space.checks import fmt, plain, unknown_key
from sweeps.space.conditional import Conditional, categorical_choices, parse_when
from sweeps.space.distributions import parse_spec
from sweeps.space.layers import LayerSpace, parse_layers
from sweeps.space.searchspace import SearchSpace
from sweeps.space.study import StudySettings, parse_settings
from trainer.config import DEFAULTS, FIELD_NAMES, ConfigError, TrainConfig, validate_field


def load_space(
    path: str | Path,
    *,
    name: str | None = None,
    edit: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> SearchSpace:
    """Read and validate a search-space file; ``name`` overrides ``study.name``; ``edit``
    changes the file's mapping before it is validated (data given from Python)."""
    p = Path(path)
    raw = dict(read_mapping(p, "search space"))
    if edit is not None:
        raw = edit(raw)
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
            problems.append(unknown_key(str(key), ["study", "params"], ""))
    study_raw = raw.get("study") or {}
    params_raw = raw.get("params")
    if not isinstance(study_raw, Mapping):
        problems.append(f"study: must be a mapping, got {fmt(study_raw)}")
        study_raw = {}
    if not isinstance(params_raw, Mapping) or not params_raw:
        problems.append(f"params: must be a non-empty mapping, got {fmt(params_raw)}")
        params_raw = {}

    settings = parse_settings(study_raw, default_name, force_name, problems)
    distributions: dict[str, BaseDistribution] = {}
    fixed: dict[str, Any] = {}
    encoded: dict[str, dict[str, Any]] = {}
    layers: LayerSpace | None = None
    pending: dict[str, Mapping[str, Any]] = {}  # specs with when: once every choice is known
    for name, spec in params_raw.items():
        path = f"params.{name}"
        if name not in FIELD_NAMES:
            problems.append(unknown_key(str(name), list(FIELD_NAMES), "params."))
            continue
        if name == "hidden_layers" and isinstance(spec, Mapping) and "type" not in spec:
            layers = parse_layers(spec, path, problems)
        elif isinstance(spec, Mapping):
            own = {k: v for k, v in spec.items() if k != "when"}
            dist, codes = parse_spec(str(name), own, path, problems)
            if dist is not None and "when" in spec:
                pending[str(name)] = spec
            if dist is not None:
                distributions[str(name)] = dist
                if codes:
                    encoded[str(name)] = codes
        else:
            value, error = validate_field(str(name), spec)
            if error:
                problems.append(f"{path}: {error.rule}")
            else:
                fixed[str(name)] = plain(value)
    conditional: dict[str, Conditional] = {}
    for name, spec in pending.items():  # sampled after the rest: off the fixed distributions
        cond = parse_when(
            name,
            spec,
            distributions.pop(name),
            categorical_choices(distributions),
            f"params.{name}",
            problems,
        )
        if cond is not None:
            conditional[name] = cond
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
    return SearchSpace(settings, distributions, fixed, source, encoded, layers, conditional)


def _sampler_problems(
    settings: StudySettings,
    distributions: Mapping[str, BaseDistribution],
    layers: LayerSpace | None,
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
